/* A gated demo script: the banner runs it (once) when its data-gate category is granted. */
window.demoGate(document.currentScript.dataset.gate);
