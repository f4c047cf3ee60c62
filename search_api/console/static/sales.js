// The sales view: daily sales per currency (daily-sales), a chart of the days drawn as SVG.
import { api } from "./api.js";
import { asOfLine } from "./freshness.js";
import { h, money, replace } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return element;
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

// One bar per day: the amount paid that day, in one currency (the chart's own scale).
export function chart(rows, currency) {
  const days = rows.filter((row) => row.currency === currency);
  const width = 640, height = 200, pad = 24;
  const top = Math.max(1, ...days.map((row) => row.paid_total));
  const step = days.length ? (width - 2 * pad) / days.length : 0;
  const bars = days.map((row, i) => {
    const tall = ((height - 2 * pad) * row.paid_total) / top;
    return svg("rect", { x: pad + i * step + 1, y: height - pad - tall, width: Math.max(1, step - 2), height: tall, class: "bar" },
      svg("title", {}, `${row.day}: ${money(row.paid_total, currency)} paid, ${row.orders_placed} placed`));
  });
  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `Amount paid per day in ${currency}, highest ${money(top, currency)}`, class: "chart" },
    svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "axis" }),
    ...bars,
  );
}

export async function salesView(main, { params, navigate }) {
  const today = new Date();
  const to = params.get("to") || isoDay(new Date(today.getTime() + 86400000));
  const from = params.get("from") || isoDay(new Date(today.getTime() - 29 * 86400000));
  const currency = params.get("currency") || "";
  const form = h(
    "form",
    { class: "filters", onsubmit: (event) => {
      event.preventDefault();
      const data = new FormData(event.target);
      const query = new URLSearchParams([...data].filter(([, value]) => value));
      navigate(`/console/sales?${query}`);
    } },
    h("label", {}, "From ", h("input", { type: "date", name: "from", value: from, required: true })),
    h("label", {}, "To (exclusive) ", h("input", { type: "date", name: "to", value: to, required: true })),
    h("label", {}, "Currency ", h("input", { name: "currency", value: currency, pattern: "[A-Z]{3}", size: 4 })),
    h("button", { type: "submit" }, "Show"),
  );
  replace(main, h("h1", {}, "Daily sales"), form, h("p", { class: "muted" }, "Loading…"));
  const query = new URLSearchParams({ from, to, ...(currency ? { currency } : {}) });
  let answer;
  try {
    answer = await api(`/reports/daily-sales?${query}`);
  } catch (error) {
    replace(main, h("h1", {}, "Daily sales"), form, h("p", { role: "alert" }, `Cannot load: ${error.message}`));
    return;
  }
  const currencies = [...new Set(answer.rows.map((row) => row.currency))];
  const rows = answer.rows.map((row) =>
    h("tr", {},
      h("td", {}, row.day), h("td", {}, row.currency),
      h("td", { class: "number" }, row.orders_placed), h("td", { class: "number" }, money(row.placed_total, row.currency)),
      h("td", { class: "number" }, row.orders_paid), h("td", { class: "number" }, money(row.paid_total, row.currency)),
      h("td", { class: "number" }, row.refunds), h("td", { class: "number" }, money(row.refunded_total, row.currency)),
      h("td", { class: "number" }, row.orders_cancelled)),
  );
  const headings = ["Day", "Currency", "Placed", "Placed total", "Paid", "Paid total", "Refunds", "Refunded", "Cancelled"];
  replace(
    main,
    h("h1", {}, "Daily sales"),
    form,
    asOfLine(answer.as_of),
    currencies.map((code) => h("section", {}, h("h2", {}, `Paid per day, ${code}`), chart(answer.rows, code))),
    answer.rows.length
      ? h("table", {}, h("caption", { class: "visually-hidden" }, "Sales per day and currency"),
        h("thead", {}, h("tr", {}, headings.map((name, i) => h("th", { scope: "col", class: i > 1 ? "number" : null }, name)))),
        h("tbody", {}, rows))
      : h("p", { class: "empty" }, "No orders in these days."),
  );
}
