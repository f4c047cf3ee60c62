// The operations view: projections, read-model generations, dead letters and their repairs.
import { api } from "./api.js";
import { h, replace, seconds, statusBadge, time } from "./dom.js";

const REFRESH_MS = 5000;

const NUMERIC = new Set(["Checkpoint", "Head", "Lag (events)", "Lag", "Dead letters", "Position"]);

function table(caption, headings, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  // Operators' tables are wide: in a narrow window they scroll on their own, not the page.
  return h(
    "div",
    { class: "scroll", role: "region", tabindex: 0, "aria-label": caption },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headings.map((name) => h("th", { scope: "col", class: NUMERIC.has(name) ? "number" : null }, name)))),
      h("tbody", {}, rows),
    ),
  );
}

function progressOf(progress) {
  if (!progress || progress.fraction === undefined) return "–";
  const percent = Math.round(progress.fraction * 100);
  const eta = progress.eta_s ? `, about ${seconds(progress.eta_s * 1000)} left` : "";
  const rate = progress.events_per_s ? `, ${Math.round(progress.events_per_s).toLocaleString()} events/s` : "";
  return h("span", {}, h("progress", { max: 100, value: percent, "aria-label": `${percent}%` }), ` ${percent}%${rate}${eta}`);
}

function projections(list) {
  return table(
    "Projections",
    ["Projection", "Generation", "State", "Checkpoint", "Head", "Lag (events)", "Lag", "Dead letters", "Progress", "Last error"],
    list.map((p) =>
      h(
        "tr",
        {},
        h("td", {}, p.name),
        h("td", {}, p.generation ?? "–"),
        h("td", {}, statusBadge(p.state)),
        h("td", { class: "number" }, p.checkpoint ?? "–"),
        h("td", { class: "number" }, p.head ?? "–"),
        h("td", { class: "number" }, `${p.lag_events.toLocaleString()}${p.lag_events >= 10000 ? "+" : ""}`),
        h("td", { class: "number" }, seconds(p.lag_ms)),
        h("td", { class: "number" }, p.dead_letters),
        h("td", {}, progressOf(p.progress)),
        h("td", { class: "error-text" }, p.last_error ?? "–"),
      ),
    ),
    "No projection has reported yet.",
  );
}

function generations(answer) {
  return table(
    "Read-model generations",
    ["Generation", "State", "Created", "Retired", "Progress"],
    answer.generations.map((g) =>
      h(
        "tr",
        {},
        h("td", {}, g.name, g.name === answer.active ? h("span", { class: "badge live" }, "serving") : null),
        h("td", {}, g.state),
        h("td", {}, time(g.created_at)),
        h("td", {}, time(g.retired_at)),
        h("td", {}, g.state === "rebuilding" ? progressOf(g.progress) : "–"),
      ),
    ),
    "No generations.",
  );
}

export async function operationsView(main, { can }) {
  document.title = "Operations – Orders console";
  if (!can("operator")) {
    replace(main, h("h1", {}, "Operations"), h("p", {}, "The operations view is for operators."));
    return;
  }
  const said = h("p", { role: "status", class: "notice" });
  const body = h("div", { "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  replace(main, h("h1", {}, "Operations"), said, body);
  let timer = null;
  let stopped = false;

  async function act(label, path) {
    replace(said, `${label}…`);
    try {
      const result = await api(path, { method: "POST" });
      if (result.repaired) {
        const failing = Object.keys(result.still_failing);
        replace(said, `Repaired ${result.repaired.length} order(s)${failing.length ? `; still failing: ${failing.join(", ")}` : ""}.`);
      } else {
        replace(said, `Re-projected order ${result.order_id} (version ${result.version}).`);
      }
    } catch (error) {
      replace(said, `${label} failed: ${error.message}`);
    }
    await refresh();
  }

  async function refresh({ quiet = false } = {}) {
    clearTimeout(timer);
    // Never redraw under a keyboard user's focus: wait for the next round.
    if (quiet && body.contains(document.activeElement)) {
      timer = setTimeout(() => refresh({ quiet: true }), REFRESH_MS);
      return;
    }
    try {
      const [status, gens, letters] = await Promise.all([
        api("/projections"),
        api("/operations/generations"),
        api("/operations/dead-letters?limit=100"),
      ]);
      const rows = letters.dead_letters.map((letter) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `/console/orders/${encodeURIComponent(letter.order_id)}` }, letter.order_id)),
          h("td", {}, letter.event_type, " @ ", letter.revision),
          h("td", { class: "number" }, letter.position),
          h("td", {}, time(letter.recorded_at)),
          h("td", { class: "error-text" }, letter.error),
          h("td", {}, h("button", { type: "button", onclick: () => act(`Re-projecting ${letter.order_id}`, `/operations/orders/${encodeURIComponent(letter.order_id)}/reproject`) }, "Re-project")),
        ),
      );
      replace(
        body,
        h("section", {}, h("h2", {}, "Projections"),
          (status.grouped || []).map((group) => h("section", {}, h("h3", {}, group.name), projections(group.generations)))),
        h("section", {}, h("h2", {}, "Generations"), generations(gens),
          h("p", { class: "muted" }, "Rebuild without downtime: orders projection rebuild NAME (see the operations runbook in docs/operations.md).")),
        h(
          "section",
          {},
          h("h2", {}, `Dead letters (${letters.total.toLocaleString()})`),
          letters.total ? h("p", {}, h("button", { type: "button", onclick: () => act("Retrying dead letters", "/operations/dead-letters/retry") }, "Retry all")) : null,
          table("Events that could not be projected, newest first", ["Order", "Event", "Position", "Recorded", "Error", ""], rows, "No dead letters: every event was projected."),
        ),
        h("p", { class: "muted" }, "Refreshes every 5 s. Last: ", time(new Date().toISOString())),
      );
    } catch (error) {
      replace(said, `Cannot load: ${error.message}`);
    } finally {
      body.removeAttribute("aria-busy");
      if (!stopped) timer = setTimeout(() => refresh({ quiet: true }), REFRESH_MS);
    }
  }

  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
