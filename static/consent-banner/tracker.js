/* Heedful tracker: loaded by heedful.js only after analytics consent.
   Sends page views (also on SPA navigation), visible time on page, downloads and
   outbound clicks to POST /api/v1/collect, and stops for good once consent goes. */
(function (w, d) {
  var H = w.Heedful, hist = history, loc = location;
  if (!H || w.HeedfulTracker) return;
  var DEFAULT_EXTS = "pdf doc docx xls xlsx ppt pptx odt ods rtf csv epub zip rar 7z gz tgz xz tar mp3 wav mp4 mov avi mkv dmg exe msi pkg deb rpm apk iso";
  var BEAT_MS = 15000, MAX_BEATS = 40; // heartbeat every 15 s, for at most 10 min per page
  var endpoint = (H.api || "") + "/api/v1/collect";
  var exts = ((H.tracker && H.tracker.download_extensions) || DEFAULT_EXTS.split(" ")).join("|");
  var fileRe = new RegExp("\\.(" + exts + ")$", "i");
  var on = 1, page = loc.href, shownAt = 0, visibleMs = 0, beats = 0;

  function granted(state) {
    return !!(state && state.choices && state.choices.analytics === true);
  }
  function visible() {
    return d.visibilityState != "hidden";
  }
  function send(event) {
    var state = H.consent();
    // The banner's event stops us at once; this re-check also covers a missed event.
    if (!on || !granted(state)) return;
    event.url = event.url || loc.href;
    var body = JSON.stringify({ site: H.site, consent_id: state.consent_id, events: [event] });
    // text/plain + no-cors: no preflight; keepalive: survives the page unloading. A
    // rejected fetch may still have reached us, so only a missing or throwing fetch falls
    // back to sendBeacon: an event is sent at most once.
    try {
      fetch(endpoint, { method: "POST", body: body, keepalive: true, mode: "no-cors" })
        .catch(function () {});
    } catch (e) { beacon(body); }
  }
  function beacon(body) {
    if (navigator.sendBeacon) navigator.sendBeacon(endpoint, body);
  }
  function now() {
    return Date.now();
  }
  // Adds the visible time since the last mark; time in a hidden tab is never counted.
  function mark() {
    if (shownAt) visibleMs += now() - shownAt;
    shownAt = visible() ? now() : 0;
  }
  function engagement() {
    mark();
    var ms = Math.min(Math.round(visibleMs), 36e5); // the collector's upper bound
    visibleMs = 0;
    if (ms > 0) send({ type: "engagement", url: page, engaged_ms: ms });
  }
  function pageview(referrer) {
    page = loc.href;
    beats = 0;
    send({ type: "pageview", url: page, title: d.title, referrer: referrer || undefined });
  }
  function navigated() {
    if (loc.href == page) return;
    engagement(); // the time belongs to the page being left
    pageview();
  }
  function click(e) {
    var a = e.target.closest && e.target.closest("a[href]");
    if (!a) return;
    var url = new URL(a.href, loc.href);
    if (!/^https?:$/.test(url.protocol)) return;
    if (fileRe.test(url.pathname)) send({ type: "download", target: url.href });
    else if (url.host != loc.host) send({ type: "outbound", target: url.href });
  }

  var push = hist.pushState;
  hist.pushState = function () {
    push.apply(hist, arguments);
    navigated();
  };
  w.addEventListener("popstate", navigated);
  d.addEventListener("click", click, true);
  d.addEventListener("auxclick", click, true);
  d.addEventListener("visibilitychange", function () {
    if (visible()) mark();
    else engagement();
  });
  w.addEventListener("pagehide", engagement);
  setInterval(function () {
    if (visible() && beats++ < MAX_BEATS) engagement();
  }, BEAT_MS);
  d.addEventListener("heedful:consent", function (e) {
    var was = on;
    on = granted(e.detail);
    if (on && !was) shownAt = visible() ? now() : 0; // a new grant starts a fresh count
    if (!on) shownAt = visibleMs = 0;
  });

  w.HeedfulTracker = { flush: engagement };
  shownAt = visible() ? now() : 0;
  pageview(d.referrer);
})(window, document);
