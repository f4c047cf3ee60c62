// The operations view: every projection and generation, then one projection's read-model
// generations, dead letters and their repairs (chosen with ?projection=NAME, order-search first).
import { api } from "./api.js";
import { h, replace, seconds, statusBadge, time } from "./dom.js";

const REFRESH_MS = 5000;
const DEFAULT_PROJECTION = "order-search";

function chosenProjection() {
  return new URLSearchParams(window.location.search).get("projection") || DEFAULT_PROJECTION;
}

function operationsOf(name) {
  return `/operations/projections/${encodeURIComponent(name)}`;
}

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
    `Read-model generations of ${answer.projection}`,
    ["Generation", "State", "Schema", "Created", "Retired", "Progress"],
    answer.generations.map((g) =>
      h(
        "tr",
        {},
        h("td", {}, g.name, g.name === answer.active ? h("span", { class: "badge live" }, "serving") : null),
        h("td", {}, g.state),
        h("td", {}, g.schema_version ?? "–"),
        h("td", {}, time(g.created_at)),
        h("td", {}, time(g.retired_at)),
        h("td", {}, g.state === "rebuilding" ? [progressOf(g.progress), g.progress?.state?.startsWith("refused") ? h("span", { class: "error-text" }, ` ${g.progress.state}`) : null] : "–"),
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
  let chosen = chosenProjection();

  function choose(name) {
    chosen = name;
    const url = new URL(window.location.href);
    if (name === DEFAULT_PROJECTION) url.searchParams.delete("projection");
    else url.searchParams.set("projection", name);
    window.history.replaceState(window.history.state, "", url);
    refresh();
  }

  function chooser(names) {
    return h(
      "p",
      {},
      h("label", { for: "operations-projection" }, "Projection "),
      h(
        "select",
        { id: "operations-projection", onchange: (event) => choose(event.target.value) },
        names.map((name) => h("option", { value: name, selected: name === chosen }, name)),
      ),
    );
  }

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
        api(`${operationsOf(chosen)}/generations`),
        api(`${operationsOf(chosen)}/dead-letters?limit=100`),
      ]);
      const names = (status.grouped || []).map((group) => group.name);
      const rows = letters.dead_letters.map((letter) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `/console/orders/${encodeURIComponent(letter.order_id)}` }, letter.order_id)),
          h("td", {}, letter.event_type, " @ ", letter.revision),
          h("td", { class: "number" }, letter.position),
          h("td", {}, time(letter.recorded_at)),
          h("td", { class: "error-text" }, letter.error),
          h("td", {}, h("button", { type: "button", onclick: () => act(`Re-projecting ${letter.order_id}`, `${operationsOf(chosen)}/orders/${encodeURIComponent(letter.order_id)}/reproject`) }, "Re-project")),
        ),
      );
      replace(
        body,
        h("section", {}, h("h2", {}, "Projections"),
          (status.grouped || []).map((group) => h("section", {}, h("h3", {}, group.name), projections(group.generations)))),
        chooser(names.includes(chosen) ? names : [chosen, ...names]),
        h("section", {}, h("h2", {}, "Generations"), generations(gens),
          h("p", { class: "muted" }, `Rebuild without downtime: orders projection rebuild ${gens.projection} (see the operations runbook in docs/operations.md).`)),
        h(
          "section",
          {},
          h("h2", {}, `Dead letters (${letters.total.toLocaleString()})`),
          letters.total ? h("p", {}, h("button", { type: "button", onclick: () => act(`Retrying the dead letters of ${chosen}`, `${operationsOf(chosen)}/dead-letters/retry`) }, "Retry all")) : null,
          table(`Events ${chosen} could not project, newest first`, ["Order", "Event", "Position", "Recorded", "Error", ""], rows, "No dead letters: every event was projected."),
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
