// The search view: one box, filters, a sortable table, keyset paging; the URL is the search.
import { CURRENCIES, digits, fromMinor, toMinor } from "./amounts.js";
import { api, query } from "./api.js";
import { email, h, money, replace, statusBadge, time } from "./dom.js";
import { asOfLine } from "./freshness.js";

const STATUSES = ["placed", "paid", "partially_shipped", "shipped", "delivered", "cancelled"];
const FIELDS = ["q", "customer_id", "sku", "placed_from", "placed_to", "currency", "min_total", "max_total"];
const TEXT_FIELDS = ["q", "customer_id", "sku", "placed_from", "placed_to"];
const BOUNDS = { min_total: "Total at least", max_total: "Total at most" };
const SORTABLE = { placed_at: "Placed", updated_at: "Updated", total: "Total" };

function input(name, label, params, attributes = {}) {
  const id = `f-${name}`;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, name, value: params.get(name) || "", ...attributes }),
  );
}

// The currency picker and the two amounts typed in its units: the URL keeps them as
// min_total/max_total in minor units, so a link means the same whatever the agent typed.
function totals(params) {
  const chosen = params.get("currency") || "";
  const picker = h(
    "select",
    { id: "f-currency", name: "currency", "aria-describedby": "totals-help" },
    h("option", { value: "" }, "Any currency"),
    [...new Set([...CURRENCIES, ...(chosen ? [chosen] : [])])].map((code) => h("option", { value: code, selected: code === chosen }, code)),
  );
  const help = h("p", { id: "totals-help", class: "muted hint" });
  const amounts = Object.entries(BOUNDS).map(([name, label]) => {
    const id = `f-${name}`;
    const minor = params.get(name);
    const amount = h("input", {
      id, name, inputmode: "decimal", autocomplete: "off", size: 10,
      value: minor && chosen && /^\d+$/.test(minor) ? fromMinor(Number(minor), chosen) : "",
    });
    const problem = h("p", { id: `${id}-error`, class: "error-text", hidden: true });
    return { name, amount, problem, field: h("div", { class: "field" }, h("label", { for: id }, label), amount, problem) };
  });
  function update() {
    const currency = picker.value;
    for (const { amount, problem } of amounts) {
      amount.disabled = !currency;
      clear(amount, problem);
    }
    const label = currency ? `In ${currency}, e.g. ${fromMinor(1250 * 10 ** Math.max(0, digits(currency) - 2), currency)}.` : "Choose a currency to filter by total.";
    const linked = !currency && (params.get("min_total") || params.get("max_total"));
    replace(help, linked ? `${label} (This link's range is in minor units of every currency.)` : label);
  }
  picker.addEventListener("change", update);
  update();
  // The amounts in minor units, or null (and each bad amount said by its field) when one is wrong.
  function read() {
    const currency = picker.value;
    const bounds = {};
    let first = null;
    for (const { name, amount, problem } of amounts) {
      clear(amount, problem);
      if (!currency || !amount.value.trim()) continue;
      try {
        bounds[name] = String(toMinor(amount.value, currency));
      } catch (error) {
        amount.setAttribute("aria-invalid", "true");
        amount.setAttribute("aria-describedby", problem.id);
        replace(problem, `Not an amount in ${currency}: ${error.message}.`);
        problem.hidden = false;
        first ??= amount;
      }
    }
    if (first) {
      first.focus();
      return null;
    }
    return { currency, ...bounds };
  }
  return {
    fields: [h("div", { class: "field" }, h("label", { for: "f-currency" }, "Currency"), picker), ...amounts.map(({ field }) => field), help],
    read,
  };
}

function clear(amount, problem) {
  amount.removeAttribute("aria-invalid");
  amount.setAttribute("aria-describedby", "totals-help");
  problem.hidden = true;
  replace(problem);
}

function form(params, navigate) {
  const chosen = new Set(params.getAll("status"));
  const box = h("input", {
    id: "q", name: "q", type: "search", value: params.get("q") || "", autocomplete: "off",
    placeholder: "Order id, name, e-mail, SKU, product, tracking number, postal code",
    "aria-describedby": "q-help", maxlength: 200,
  });
  const range = totals(params);
  function submit(event) {
    event.preventDefault();
    const bounds = range.read();
    if (!bounds) return;
    // From Enter to results on screen: what scripts/bench_console.py reads.
    performance.mark("orders:search-submitted", { startTime: event.timeStamp });
    const data = new FormData(event.target);
    const next = { sort: params.get("sort") || undefined };
    for (const name of TEXT_FIELDS) next[name] = (data.get(name) || "").trim();
    Object.assign(next, bounds);
    next.status = data.getAll("status");
    navigate(`/${query(next)}`);
  }
  const element = h(
    "form",
    { role: "search", class: "search", onsubmit: submit, "aria-label": "Find orders" },
    h(
      "div",
      { class: "box" },
      h("label", { for: "q" }, "Search orders"),
      box,
      h("button", { type: "submit" }, "Search"),
      h("p", { id: "q-help", class: "muted" }, "Press / to come back here, ↓ to move through the results, Enter to open one."),
    ),
    h(
      "fieldset",
      { class: "filters" },
      h("legend", {}, "Filters"),
      h(
        "fieldset",
        { class: "statuses" },
        h("legend", {}, "Status"),
        STATUSES.map((status) =>
          h(
            "label",
            { class: "check" },
            h("input", { type: "checkbox", name: "status", value: status, checked: chosen.has(status) }),
            ` ${status}`,
          ),
        ),
      ),
      input("placed_from", "Placed from", params, { type: "date" }),
      input("placed_to", "Placed before", params, { type: "date" }),
      range.fields,
      input("sku", "SKU", params, { maxlength: 64 }),
      input("customer_id", "Customer id", params, { maxlength: 64 }),
    ),
  );
  return { element, box };
}

// With words to find, the API ranks by relevance unless a field is chosen; without, newest first.
function currentSort(params) {
  return params.get("sort") || ((params.get("q") || "").trim() ? "relevance" : "-placed_at");
}

// "Best matches first", or a link back to that order once the agent sorted by a column.
function sortNote(params) {
  if (!(params.get("q") || "").trim()) return null;
  if (currentSort(params) === "relevance") return h("p", { class: "muted", id: "sorted" }, "Best matches first: sort by a column to change.");
  const best = new URLSearchParams(params);
  best.delete("cursor");
  best.delete("sort");
  return h("p", { id: "sorted" }, h("a", { href: `/?${best}` }, "Sort by best match"));
}

function sortHeader(field, params, navigate, className = null) {
  const sort = currentSort(params);
  const current = sort.replace(/^-/, "") === field;
  const descending = sort.startsWith("-");
  const next = new URLSearchParams(params);
  next.delete("cursor");
  next.set("sort", current && descending ? field : `-${field}`);
  const arrow = current ? (descending ? " ↓" : " ↑") : "";
  return h(
    "th",
    { scope: "col", class: className, "aria-sort": current ? (descending ? "descending" : "ascending") : null },
    h("a", { href: `/?${next}`, class: "sort" }, SORTABLE[field], arrow),
  );
}

function looser(params) {
  const hints = [];
  if (params.getAll("status").length) hints.push(`remove the status filter (${params.getAll("status").join(", ")})`);
  if (params.get("placed_from") || params.get("placed_to")) hints.push("widen the placed dates");
  if (params.get("min_total") || params.get("max_total")) hints.push("widen the total range");
  if (params.get("currency")) hints.push(`choose any currency (not only ${params.get("currency")})`);
  if (params.get("sku")) hints.push("drop the SKU");
  if (params.get("customer_id")) hints.push("drop the customer id");
  if ((params.get("q") || "").trim().split(/\s+/).length > 1) hints.push("use fewer words (every word must match)");
  return hints.length ? `Try to ${hints.join(", or ")}.` : "Check the spelling, or search by e-mail or order id.";
}

function results(page, params, navigate) {
  if (!page.results.length) {
    return h("div", { class: "empty" }, h("p", {}, h("strong", {}, "No orders match.")), h("p", {}, looser(params)));
  }
  const rows = page.results.map((order) =>
    h(
      "tr",
      {},
      h("td", { class: "id" }, h("a", { href: `/console/orders/${encodeURIComponent(order.order_id)}`, class: "result" }, order.order_id)),
      h("td", { class: "customer" }, order.customer?.name ?? "–", h("br"), h("span", { class: "muted" }, email(order.customer?.email) ?? "")),
      h("td", {}, statusBadge(order.status), order.projection_error ? h("span", { class: "badge behind" }, "behind") : null),
      h("td", { class: "number" }, money(order.total, order.currency)),
      h("td", { class: "number items" }, order.item_count),
      h("td", {}, time(order.placed_at)),
      h("td", { class: "updated" }, time(order.updated_at)),
    ),
  );
  const next = new URLSearchParams(params);
  if (page.next_cursor) next.set("cursor", page.next_cursor);
  return [
    h(
      "table",
      { class: "results" },
      h("caption", { class: "visually-hidden" }, "Orders found"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Order"),
          h("th", { scope: "col" }, "Customer"),
          h("th", { scope: "col" }, "Status"),
          sortHeader("total", params, navigate),
          h("th", { scope: "col", class: "number items" }, "Items"),
          sortHeader("placed_at", params, navigate),
          sortHeader("updated_at", params, navigate, "updated"),
        ),
      ),
      h("tbody", {}, rows),
    ),
    h(
      "nav",
      { class: "pages", "aria-label": "Pages" },
      params.get("cursor") ? h("a", { href: "#", onclick: (event) => { event.preventDefault(); history.back(); } }, "← Previous page") : null,
      page.next_cursor ? h("a", { href: `/?${next}`, rel: "next" }, "Next page →") : null,
    ),
  ];
}

// ↓ from the box enters the results; ↑/↓ move between them; Enter opens (the links' own).
function arrows(event) {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const links = [...document.querySelectorAll("a.result")];
  if (!links.length) return;
  const at = links.indexOf(document.activeElement);
  if (event.target.id === "q" && event.key === "ArrowDown") links[0].focus();
  else if (at >= 0) {
    if (event.key === "ArrowUp" && at === 0) document.getElementById("q").focus();
    else links[Math.max(0, Math.min(links.length - 1, at + (event.key === "ArrowDown" ? 1 : -1)))].focus();
  } else return;
  event.preventDefault();
}

function slash(event) {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
  if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey) {
    event.preventDefault();
    const box = document.getElementById("q");
    box.focus();
    box.select();
  }
}

export async function searchView(main, { params, navigate }) {
  const { element, box } = form(params, navigate);
  const answer = h("section", { class: "answer", "aria-live": "polite", "aria-busy": "true" }, h("p", { class: "muted" }, "Searching…"));
  replace(main, h("h1", { class: "visually-hidden" }, "Search orders"), element, answer);
  document.title = params.get("q") ? `${params.get("q")} – Orders console` : "Search – Orders console";
  if (!params.has("cursor")) box.focus();
  document.addEventListener("keydown", arrows);
  document.addEventListener("keydown", slash);
  const controller = new AbortController();
  const leave = () => {
    controller.abort();
    document.removeEventListener("keydown", arrows);
    document.removeEventListener("keydown", slash);
  };
  const request = {};
  for (const name of [...FIELDS, "sort", "cursor"]) request[name] = params.get(name);
  request.status = params.getAll("status");
  try {
    const page = await api(`/orders/search${query(request)}`, { signal: controller.signal });
    const shown = page.results.length;
    replace(
      answer,
      h(
        "div",
        { class: "summary" },
        h("p", { id: "count" }, `${page.total.toLocaleString()} order${page.total === 1 ? "" : "s"}${shown && page.total > shown ? `, ${shown} on this page` : ""}`),
        asOfLine(page.as_of),
        sortNote(params),
      ),
      results(page, params, navigate),
    );
    // After the next paint: the results are on screen, not only in the document.
    requestAnimationFrame(() => setTimeout(() => {
      if (!performance.getEntriesByName("orders:search-submitted").length) return;
      performance.measure("orders:search", "orders:search-submitted");
      performance.clearMarks("orders:search-submitted");
    }));
  } catch (error) {
    if (error.name === "AbortError") return leave;
    const fields = (error.problem?.errors || []).map((item) => `${item.field}: ${item.message}`);
    replace(answer, h("p", { class: "error", role: "alert" }, `Search failed: ${error.message}`), fields.length ? h("ul", {}, fields.map((text) => h("li", {}, text))) : null);
  } finally {
    answer.removeAttribute("aria-busy");
  }
  return leave;
}
