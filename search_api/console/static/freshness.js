// How fresh an answer is, on every view, and the banner when search may be delayed.
import { api } from "./api.js";
import { h, replace, seconds, when } from "./dom.js";

const POLL_MS = 3000;
const AGE_MS = 5000;
const OLD_MS = 30000;
const threshold = Number(document.body.dataset.delayWarningMs || 5000);

// "as of 12:03:04 (2.1 s behind)" from a search or order answer's as_of. A page left open
// must not keep saying it is up to date: once the answer is OLD_MS old, the line says when
// it was read, and its age grows while the page sits idle.
export function asOfLine(asOf, { stale = false } = {}) {
  if (!asOf) return h("p", { class: "as-of" }, "Read from the event store: authoritative, never behind.");
  const behind = asOf.lag_unknown
    ? "how far behind is unknown: the event store cannot be read"
    : asOf.lag_ms > 0
      ? `${seconds(asOf.lag_ms)} behind`
      : "up to date";
  const age = h("span", { class: "age" });
  const line = h(
    "p",
    { class: "as-of", dataset: { lagMs: asOf.lag_ms ?? "" } },
    `As of ${asOf.updated_at ? when(asOf.updated_at) : "the start"} (${behind}`,
    age,
    ")",
    stale ? h("strong", {}, " · your latest change is still being applied") : null,
  );
  const readAt = Date.now();
  const tick = () => {
    if (!line.isConnected) return;
    const old = Date.now() - readAt;
    replace(age, old >= OLD_MS ? ` when read, ${seconds(Math.round(old / 1000) * 1000)} ago: search again or reload for newer` : "");
    setTimeout(tick, AGE_MS);
  };
  setTimeout(tick, AGE_MS);
  return line;
}

// The banner's text, or null when search is fresh enough (exported for the tests' sake too).
export function delayMessage(projections) {
  if (!projections.length) return null;
  // GET /projections lists the generation that serves first, then any being rebuilt.
  const [active, ...rebuilds] = projections;
  if (active.state === "stalled") {
    return `Search may be delayed: the projector has stopped applying changes; results are ${seconds(active.lag_ms)} behind (${active.lag_events.toLocaleString()}${active.lag_events >= 10000 ? "+" : ""} changes waiting).`;
  }
  if (active.lag_ms > threshold) {
    return `Search may be delayed by about ${seconds(active.lag_ms)}: recent changes are still being applied.`;
  }
  if (active.state === "rebuilding") {
    return `Search may be delayed: the search index is being rebuilt (${seconds(active.lag_ms)} behind).`;
  }
  if (rebuilds.length) {
    const progress = rebuilds[0].progress || {};
    const eta = progress.eta_s ? `, about ${seconds(progress.eta_s * 1000)} left` : "";
    const done = progress.fraction !== undefined ? ` ${Math.round(progress.fraction * 100)}%` : "";
    return `A new search index is being built (${rebuilds[0].generation}${done}${eta}); search keeps answering from the current one.`;
  }
  return null;
}

let timer = null;

// The banner reads only the projection the page shows (search and orders: order-search).
export function watchFreshness(banner, name = "order-search") {
  async function poll() {
    try {
      const { projections } = await api("/projections");
      const message = delayMessage(projections.filter((p) => p.name === name));
      banner.hidden = !message;
      const warning = message && !message.startsWith("A new search index");
      banner.classList.toggle("warning", Boolean(warning));
      replace(banner, message || "");
    } catch (error) {
      if (error.status === 401 || error.status === 403) return;
      banner.hidden = false;
      banner.classList.add("warning");
      replace(banner, `Cannot tell how fresh search is: ${error.message}`);
    } finally {
      timer = setTimeout(poll, POLL_MS);
    }
  }
  clearTimeout(timer);
  poll();
}
