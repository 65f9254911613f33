/*! Heedful consent banner | vanilla JS, no framework.
 * Served minified (rjsmin) and gzip -9 by app/assets.py, which also inlines the minified
 * heedful.css in place of the "__HEEDFUL_CSS__" token: one request shows a styled banner.
 * Short local names keep the served bytes within the 5,000-byte budget (make bench).
 */
(function (w, d, nav) {
  'use strict';
  if (w.Heedful) return; // embedded twice: the first copy owns the page
  var me = d.currentScript || d.querySelector('script[data-site]'),
    ds = me.dataset,
    api = new URL(me.src, location.href).origin,
    site = ds.site,
    lang = ds.lang || d.documentElement.lang || nav.language || 'en',
    gpc = nav.globalPrivacyControl === true,
    // Crawlers and automation get no banner (and so grant nothing) unless a test asks for it.
    bot = (nav.webdriver || /bot|crawl|spider|headless/i.test(nav.userAgent)) &&
      !(w.HEEDFUL_ALLOW_AUTOMATION || 'allowAutomation' in ds),
    NAME = 'heedful_consent',
    CACHE = 'heedful_policy:' + site + ':' + lang,
    P = null, // the policy as last fetched
    st = read(), // {consent_id, policy_version, choices, expires[, pending: method]}
    root, bn, pn, opener, back, timer, delay = 1e3, tracked,
    // Only used when the API was never reached: the banner must still show.
    FB = {
      title: 'Privacy choices', description: 'We use optional cookies only with your consent.',
      accept_all: 'Accept all', reject_all: 'Reject all', customise: 'Customise',
      save: 'Save choices', close: 'Close', preferences_title: 'Privacy preferences',
      always_on: 'Always on', reopen: 'Privacy settings', gpc_notice: 'GPC honoured.'
    },
    H = w.Heedful = { api: api, site: site, tracker: null, showPreferences: open, consent: consent };

  try { P = JSON.parse(localStorage.getItem(CACHE)); } catch (e) {}
  gtag('default', {});

  function gtag(kind, g) {
    var v = function (k) { return g[k] ? 'granted' : 'denied'; },
      m = v('marketing'), a = { analytics_storage: v('analytics'), ad_storage: m,
        ad_user_data: m, ad_personalization: m };
    if (kind == 'default') a.wait_for_update = 500;
    // gtag.js reads Arguments objects from the dataLayer, never plain arrays.
    (w.gtag || function () { (w.dataLayer = w.dataLayer || []).push(arguments); })('consent', kind, a);
  }

  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"]/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; });
  }
  function T() { return P ? P.texts : FB; }
  function cats() {
    return P ? P.categories : ['necessary', 'analytics', 'marketing', 'preferences'].map(function (k, i) {
      return { key: k, label: k, required: !i, description: '' };
    });
  }

  function read() {
    var m = d.cookie.match(/(?:^|; )heedful_consent=([^;]*)/);
    try { return m && JSON.parse(decodeURIComponent(m[1])); } catch (e) { return null; }
  }
  function save(s) {
    st = s;
    var age = s ? Math.max(0, (Date.parse(s.expires) - Date.now()) / 1e3 | 0) : 0;
    d.cookie = NAME + '=' + (s ? encodeURIComponent(JSON.stringify(s)) : '') + ';max-age=' + age +
      ';path=/;SameSite=Lax' + (location.protocol == 'https:' ? ';Secure' : '') +
      (ds.cookieDomain ? ';domain=' + ds.cookieDomain : '');
  }
  function expired(s) { return !(Date.parse(s.expires) > Date.now()); }
  // A recorded consent for the current policy that has not run out.
  function valid() {
    return st && st.consent_id && !st.pending && !expired(st) && P && st.policy_version == P.policy_version;
  }
  function consent() {
    return st && st.consent_id && !st.pending ? {
      consent_id: st.consent_id, policy_version: st.policy_version, choices: st.choices, expires: st.expires
    } : null;
  }
  function needed() {
    return !st || expired(st) || (P && st.policy_version != P.policy_version);
  }

  function req(path, opt) {
    return fetch(api + '/api/v1/' + path, opt).then(function (r) {
      return r.ok || r.status == 409 ? r.json().then(function (j) { j.$ = r.status; return j; }) : Promise.reject(r);
    });
  }
  // Unreachable or failing: try again with backoff. A 4xx (e.g. an unregistered domain) won't heal.
  function retry(e) {
    if (e && e.status < 500) return;
    clearTimeout(timer); timer = setTimeout(sync, delay); delay = Math.min(delay * 2, 3e4);
  }

  // Fetch the policy, then send a choice made while offline, re-prompt or apply the cookie.
  function sync(fresh) {
    clearTimeout(timer);
    req('sites/' + encodeURIComponent(site) + '/policy?lang=' + encodeURIComponent(lang),
      fresh && { cache: 'no-cache' }).then(function (p) {
      P = p; H.tracker = p.tracker; delay = 1e3;
      try { localStorage.setItem(CACHE, JSON.stringify(p)); } catch (e) {}
      if (st && st.pending) {
        if (st.policy_version == p.policy_version) return post(st.pending, st.choices);
        save(null); // chosen on texts that are no longer current: ask again
      }
      if (needed()) { unqueue(); if (!bn || bn.v != p.policy_version) show(bn); }
      else { apply(); if (bn) { bn.remove(); bn = null; fab(); } }
      if (pn && pn.v != p.policy_version) open(1);
    }, retry);
  }

  // Record a choice. Until the server answers it is kept as "pending" and grants nothing.
  function choose(method) {
    var c = {};
    cats().forEach(function (k) {
      var on = k.required || method == 'accept_all' && !(gpc && k.key == 'marketing');
      if (method == 'custom') on = k.required || pn.querySelector('[name=' + k.key + ']').checked;
      c[k.key] = !!on;
    });
    save({ consent_id: st && st.consent_id, policy_version: P ? P.policy_version : 0, choices: c,
      expires: new Date(Date.now() + 864e5 * (P ? P.refusal_days : 1)).toISOString(), pending: method });
    close();
    if (P) post(method, c);
  }
  function post(method, c) {
    req('consent', {
      method: 'POST', keepalive: true, headers: { 'Content-Type': 'text/plain' }, // no preflight
      body: JSON.stringify({ site: site, consent_id: st.consent_id || undefined, policy_version: st.policy_version,
        choices: c, method: method, lang: P.lang, gpc: gpc })
    }).then(function (j) {
      if (j.$ == 409) { save(null); P = null; return sync(1); } // the policy changed
      record(j);
    }, retry);
  }
  function record(j) {
    save({ consent_id: j.consent_id, policy_version: j.policy_version, choices: j.choices, expires: j.expires_at });
    apply(1);
  }

  // Without analytics no unsent event may wait (tracker.js's queue), in this tab or a stale one.
  function unqueue() {
    try { localStorage.removeItem('heedful_queue:' + site); } catch (e) {}
  }

  // Act on the recorded consent: Consent Mode, gated scripts, the tracker, the event.
  function apply(changed) {
    var g = {}, ok = valid();
    if (ok) for (var k in st.choices) g[k] = st.choices[k] && !(gpc && k == 'marketing');
    if (ok || changed) gtag('update', g);
    d.querySelectorAll('script[type="text/plain"][data-consent]').forEach(function (o) {
      if (!o.dataset.consent.split(/\s+/).every(function (k) { return g[k]; })) return;
      var s = d.createElement('script');
      for (var i = 0, a; (a = o.attributes[i]); i++) if (!/^(type|data-consent)$/.test(a.name)) s.setAttribute(a.name, a.value);
      if (o.src) s.async = false; else s.text = o.text;
      o.parentNode.replaceChild(s, o); // the text/plain original is gone: it can never run twice
    });
    if (!g.analytics) unqueue();
    if (g.analytics && !tracked) {
      tracked = 1;
      if (!d.querySelector('script[src*="consent-banner/tracker.js"]')) {
        var t = d.createElement('script');
        t.src = api + '/static/consent-banner/tracker.js'; t.async = true; t.dataset.site = site;
        d.head.appendChild(t);
      }
    }
    if (ok || changed) d.dispatchEvent(new CustomEvent('heedful:consent', { detail: consent() }));
    fab();
  }

  function el(html) {
    if (!root) { root = d.createElement('div'); root.className = 'hf'; root.onclick = click; root.onkeydown = key; d.body.appendChild(root); }
    var t = d.createElement('template'); t.innerHTML = html;
    root.dir = T().dir || 'ltr'; root.lang = P ? P.lang : 'en';
    return root.appendChild(t.content.firstChild);
  }
  function btn(a, label, cls) {
    return '<button type="button" data-a="' + a + '"' + (cls ? ' class="' + cls + '"' : '') + '>' + esc(label) + '</button>';
  }
  function x(a) { return '<button type="button" class="hf-x" data-a="' + a + '" aria-label="' + esc(T().close) + '">&times;</button>'; }
  function note() { return gpc ? '<p class="hf-g" id="hf-g">' + esc(T().gpc_notice) + '</p>' : ''; }
  function three(t, third) {
    return '<div class="hf-a">' + btn('accept_all', t.accept_all) + btn('reject_all', t.reject_all) + third + '</div>';
  }
  function swap(old, html) {
    var n = el(html), f = old && old.contains(d.activeElement);
    if (old) old.remove();
    if (f) (n.querySelector('[tabindex]') || n).focus();
    n.v = P && P.policy_version; // refilled once the policy in force arrives
    return n;
  }

  // First layer; a fixed overlay, so showing or refilling it shifts no page content.
  function show(again) {
    if (bot && !again || !d.body) return;
    var t = T();
    if (!bn) back = d.activeElement;
    var fresh = !bn;
    bn = swap(bn, '<div class="hf-b" role="dialog" aria-labelledby="hf-t" aria-describedby="hf-d" tabindex="-1">' + x('x') +
      '<h2 id="hf-t">' + esc(t.title) + '</h2><p id="hf-d">' + esc(t.description) + '</p>' + note() +
      three(t, btn('c', t.customise)) + '</div>');
    if (fresh && !pn) bn.focus();
    fab();
  }

  // Second layer: a modal with one switch per category and the visitor's own data.
  function open(again) {
    if (!d.body) return;
    if (again !== 1) { if (pn) return; opener = d.activeElement; }
    var t = T(), on = valid() ? st.choices : {}, c = P && st && st.consent_id && !st.pending,
      any = c && Object.keys(st.choices).some(function (k) { return st.choices[k] && k != 'necessary'; }), fresh = !pn;
    pn = swap(pn, '<div class="hf-o"><div class="hf-p" role="dialog" aria-modal="true" aria-labelledby="hf-pt" tabindex="-1">' + x('q') +
      '<h2 id="hf-pt">' + esc(t.preferences_title) + '</h2>' + note() + cats().map(function (k) {
        var m = gpc && k.key == 'marketing';
        return '<div class="hf-c"><label><input type="checkbox" role="switch" name="' + k.key + '"' +
          (k.required || on[k.key] && !m ? ' checked' : '') + (k.required || m ? ' disabled' : '') +
          ' aria-describedby="hf-c-' + k.key + (m ? ' hf-g' : '') + '"> ' + esc(k.label) +
          (k.required ? ' <span>(' + esc(t.always_on) + ')</span>' : '') + '</label><p id="hf-c-' + k.key + '">' +
          esc(k.description) + '</p></div>';
      }).join('') + three(t, btn('custom', t.save)) +
      (c ? '<div class="hf-a hf-m">' + (any ? btn('w', t.withdraw) : '') + btn('l', t.download) + btn('del', t.delete) + '</div>' : '') +
      '<p class="hf-s" role="status"></p></div></div>');
    if (fresh) pn.firstChild.focus();
    fab();
  }

  // Focus goes back where it came from: the opener, else the banner, else the page.
  function close(all) {
    if (pn) { pn.remove(); pn = null; }
    if (bn && (all || !needed())) { bn.remove(); bn = null; }
    var f = opener && opener.isConnected ? opener : bn ? bn.querySelector('[data-a=c]') : back;
    opener = null;
    if (f && f.focus) f.focus();
    if (!all && !bn && needed()) show(); // e.g. after deleting: no consent left, so ask again
    fab();
  }

  function click(e) {
    var b = e.target.closest('[data-a]'), a = b && b.dataset.a, id = st && st.consent_id;
    if (!a) return;
    if (a == 'x') close(1); // closing is not consenting: the banner comes back on the next page
    else if (a == 'q') close();
    else if (a == 'c' || a == 'f') open();
    else if (a == 'w') req('consent/' + id + '/withdraw', { method: 'POST' }).then(function (j) { record(j); close(); },
      function () { choose('reject_all'); });
    else if (a == 'l') req('consent/' + id + '/data').then(function (j) {
      var l = d.createElement('a');
      l.href = URL.createObjectURL(new Blob([JSON.stringify(j, null, 2)], { type: 'application/json' }));
      l.download = 'heedful-my-data.json'; l.click();
    });
    else if (a == 'del') req('consent/' + id + '/data', { method: 'DELETE' }).then(function () {
      save(null); apply(1); open(1);
      pn.querySelector('.hf-s').textContent = T().deleted;
    });
    else choose(a);
  }

  function key(e) {
    if (!pn) return;
    if (e.key == 'Escape') { e.preventDefault(); close(); }
    if (e.key != 'Tab') return;
    var f = pn.querySelectorAll('button,input:not([disabled])'), first = f[0], last = f[f.length - 1];
    if (e.shiftKey ? d.activeElement == first || d.activeElement == pn.firstChild : d.activeElement == last) {
      e.preventDefault(); (e.shiftKey ? last : first).focus();
    }
  }

  // Optional small floating button (data-reopen-button) to revisit the choice.
  function fab() {
    var f = root && root.querySelector('.hf-f');
    if (!('reopenButton' in ds) || bot) return;
    if (bn) { if (f) f.remove(); } else if (!f) el(btn('f', T().reopen, 'hf-f'));
  }

  function go() {
    if (needed()) show();
    sync();
    addEventListener('online', sync);
  }
  var css = d.createElement('style');
  css.textContent = '__HEEDFUL_CSS__';
  d.head.appendChild(css);
  d.body ? go() : d.addEventListener('DOMContentLoaded', go);
})(window, document, navigator);
