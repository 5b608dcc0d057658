// The page offline: a service worker (registered at /sw.js, scope "/") that keeps a copy of what
// the page needs to draw with no server: the page, its scripts and styles, the models'
// descriptions, the engine's description and weights, the samples. Network first: while the
// server answers, everything comes from it as before (and the copy is refreshed); when it does
// not, these GETs come from the copy, so a reload still opens the page and draws in it. Nothing
// else is touched (explanations, uploads and the live channel need the server anyway).

const CACHE = "convnet-vis-v1";
const KEPT = [/^\/$/, /^\/static\//, /^\/api\/models$/, /^\/api\/models\/[^/]+$/, /^\/api\/models\/[^/]+\/browser(\/weights)?$/];

const kept = (url) => url.origin === location.origin && KEPT.some((pattern) => pattern.test(url.pathname));
// The page under any query (?model=...) is one page.
const keyOf = (url) => (url.pathname === "/" ? "/" : url.pathname + url.search);

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || !kept(url)) return;
  event.respondWith(networkElseCopy(event.request, keyOf(url)));
});

async function networkElseCopy(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(key, response.clone());
    return response;
  } catch (error) {
    const copy = await cache.match(key);
    if (!copy) throw error;
    // marked, so that the page knows the server did not answer (api.js `server`)
    const headers = new Headers(copy.headers);
    headers.set("x-offline-copy", "1");
    return new Response(copy.body, { status: copy.status, statusText: copy.statusText, headers });
  }
}

// The page loaded before this worker controlled it: it sends the URLs it used ({type: "keep",
// urls}), and those not yet copied are fetched once. Answers {type: "kept", count} when done.
self.addEventListener("message", (event) => {
  if (!event.data || event.data.type !== "keep") return;
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      let count = 0;
      for (const address of new Set(event.data.urls)) {
        const url = new URL(address, location.origin);
        if (!kept(url) || (await cache.match(keyOf(url)))) continue;
        try {
          const response = await fetch(url);
          if (response.ok) {
            await cache.put(keyOf(url), response);
            count += 1;
          }
        } catch (error) {
          // the server went away meanwhile: kept on the next visit
        }
      }
      if (event.source) event.source.postMessage({ type: "kept", count });
    })(),
  );
});
