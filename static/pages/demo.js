/* The demo shop's own script. It is a file, not inline, so that /demo runs under the same
 * strict Content-Security-Policy (no inline script) that a careful customer site would. */
(function () {
  'use strict';
  window.demoRuns = {};
  // Called by each gated script (demo-gate.js) once its category is granted.
  window.demoGate = function (category) {
    window.demoRuns[category] = (window.demoRuns[category] || 0) + 1;
    var box = document.getElementById('gate-' + category);
    box.textContent = category[0].toUpperCase() + category.slice(1) + ' script: running';
    box.classList.add('on');
  };
  document.addEventListener('heedful:consent', function (e) {
    var c = e.detail, on = c && Object.keys(c.choices).filter(function (k) { return c.choices[k]; });
    document.getElementById('consent-state').textContent = c ? on.join(', ') : 'no consent';
  });
  document.getElementById('open-preferences').addEventListener('click', function () {
    if (window.Heedful) window.Heedful.showPreferences();
  });
  // An in-page (single-page app) navigation: the URL changes through history.pushState,
  // without a page load, as a client-side router would do it.
  var spa = document.getElementById('demo-spa');
  if (spa) {
    spa.addEventListener('click', function (event) {
      event.preventDefault();
      history.pushState({}, '', this.getAttribute('href'));
      document.getElementById('demo-spa-view').textContent = 'Showing details';
    });
    window.addEventListener('popstate', function () {
      document.getElementById('demo-spa-view').textContent = '';
    });
  }
})();
