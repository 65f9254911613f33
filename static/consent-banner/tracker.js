/* Heedful tracker: loaded by heedful.js only after analytics consent.
   Sends page views (also on SPA navigation), visible time on page, downloads and
   outbound clicks to POST /api/v1/collect, and stops for good once consent goes.
   Each event is kept in localStorage (at most 100, for at most 24 h) until the server
   answers, and retried with back-off after a 429, a 5xx or a network error. Its batch
   id lets the server store a retry once, even when only the answer was lost. */
(function (w, d) {
  var H = w.Heedful, hist = history, loc = location;
  if (!H || w.HeedfulTracker) return;
  var endpoint = (H.api || "") + "/api/v1/collect",
    // The site's download extensions come with its policy, fetched before we are loaded.
    fileRe = new RegExp("\\.(" + ((H.tracker || {}).download_extensions || ["pdf"]).join("|") + ")$", "i"),
    on = 1, page = loc.href, shownAt = 0, visibleMs = 0, beats = 0,
    KEY = "heedful_queue:" + H.site, flying = {}, busy, timer, tries = 0, now = Date.now;

  function granted(state) {
    return state && state.choices && state.choices.analytics === true;
  }
  function visible() {
    return !d.hidden;
  }
  function send(event) {
    var state = H.consent();
    // The banner's event stops us at once; this re-check also covers a missed event.
    if (!on || !granted(state)) return;
    event.url = event.url || loc.href;
    var body = JSON.stringify({ site: H.site, consent_id: state.consent_id, batch: id(), events: [event] });
    keep(queue().concat([[now(), body, 0]]));
    post(body);
  }
  // 128 random bits after the time, so the server's index of batch ids grows at its end.
  function id() {
    return now().toString(36) + "_" + [].join.call(crypto.getRandomValues(new Uint32Array(4)), "_");
  }
  // [time, body, failures], shared by the site's tabs (none if storage is blocked: each
  // event is then sent once). A failure may be a refusal the page cannot read (a 4xx
  // without CORS headers): after 20 of them, and an hour, the event goes.
  function queue() {
    try { var q = JSON.parse(localStorage.getItem(KEY)) || []; } catch (e) { q = []; }
    return q.filter(function (x) { var age = now() - x[0];
      return age < 864e5 && (x[2] < 20 || age < 36e5); }).slice(-100);
  }
  function keep(q) {
    try { q.length ? localStorage.setItem(KEY, JSON.stringify(q)) : localStorage.removeItem(KEY); } catch (e) {}
  }
  // text/plain: no preflight; keepalive: survives the page unloading. An answer the page
  // never sees leaves the event queued: the next page sends it again, and it is stored once.
  function post(body, chain) {
    flying[body] = 1;
    fetch(endpoint, { method: "POST", body: body, keepalive: true }).then(function (r) {
      // Retry after a 429 or 5xx (Retry-After, if any); done when stored, or refused for
      // good (any other 4xx).
      return (r.status == 429 || r.status > 499) && (r.headers.get("Retry-After") || 1);
    }, function () {
      return 1; // a network error
    }).then(function (retry) {
      delete flying[body];
      if (chain) busy = 0;
      keep(queue().filter(function (x) { return x[1] != body || retry && ++x[2]; }));
      if (!retry) {
        tries = 0;
        if (chain || timer) pump();
      // At least Retry-After, and exponential back-off with jitter (~1 s, 2 s, 4 s, … 5 min).
      } else if (on && !timer) timer = setTimeout(pump, Math.max(retry * 1e3 || 0,
        Math.min(3e5, 1e3 * 2 ** tries++) * (Math.random() / 2 + .5)));
    });
  }
  // Sends the queue oldest first, one at a time, until one fails.
  function pump() {
    clearTimeout(timer);
    timer = 0;
    var next = on && !busy && queue().filter(function (x) { return !flying[x[1]]; })[0];
    if (next) post(next[1], busy = 1);
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
    send({ type: "pageview", url: page, title: d.title, referrer: referrer });
  }
  function navigated() {
    if (loc.href == page) return;
    engagement(); // the time belongs to the page being left
    pageview();
  }
  function click(e) {
    var a = e.target.closest && e.target.closest("a[href]");
    if (!a) return;
    var url = new URL(a.href); // absolute already
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
    visible() ? mark() : engagement();
  });
  w.addEventListener("pagehide", engagement);
  setInterval(function () {
    if (visible() && beats++ < 40) engagement(); // every 15 s, for at most 10 min per page
  }, 15e3);
  d.addEventListener("heedful:consent", function (e) {
    var was = on;
    on = granted(e.detail);
    if (on && !was) shownAt = visible() ? now() : 0; // a new grant starts a fresh count
    if (!on) {
      shownAt = visibleMs = 0;
      keep([]); // nothing unsent stays behind
      pump(); // which, stopped, only clears the timer
    }
  });
  w.addEventListener("online", pump);

  w.HeedfulTracker = { flush: engagement };
  shownAt = visible() ? now() : 0;
  pump(); // what an earlier page left unsent
  pageview(d.referrer);
})(window, document);
