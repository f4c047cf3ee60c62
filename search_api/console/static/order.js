// The order view: the document customer service reads, its whole timeline from the event
// store, notes, and what agents do (note; refund, return, address change and cancel, each
// confirmed first: lifecycle.js).
import { api, query } from "./api.js";
import { definitions, email, h, money, replace, statusBadge, time, whileSubmitting } from "./dom.js";
import { asOfLine } from "./freshness.js";
import { addressForm, cancelForm, moneySection, refundable, refundForm, refundsAndReturns, returnable, returnForm, shipmentsSection } from "./lifecycle.js";

// Before anything has shipped: the order may still be cancelled or sent elsewhere.
const UNSHIPPED = new Set(["placed", "paid"]);

const ERASED = "[erased]";

// Erasure is what the order says (personal_data_erased), never a value: a real name may read "[erased]".
function address(shipping, erased) {
  if (!shipping) return "–";
  if (erased) return h("address", {}, ERASED, h("br"), shipping.country);
  const lines = [shipping.name, shipping.line1, shipping.line2, `${shipping.postal_code} ${shipping.city}`, shipping.country];
  return h("address", {}, lines.filter(Boolean).map((line) => [line, h("br")]));
}

function items(order) {
  return h(
    "table",
    { class: "items" },
    h("caption", { class: "visually-hidden" }, "Items"),
    h("thead", {}, h("tr", {}, ["SKU", "Product", "Quantity", "Unit price", "Subtotal"].map((name, i) => h("th", { scope: "col", class: i >= 2 ? "number" : null }, name)))),
    h(
      "tbody",
      {},
      (order.items || []).map((item) =>
        h(
          "tr",
          {},
          h("td", {}, item.sku),
          h("td", {}, item.name),
          h("td", { class: "number" }, item.quantity),
          h("td", { class: "number" }, money(item.unit_price, order.currency)),
          h("td", { class: "number" }, money(item.unit_price * item.quantity, order.currency)),
        ),
      ),
    ),
    h("tfoot", {}, h("tr", {}, h("th", { scope: "row", colspan: 4 }, "Total"), h("td", { class: "number" }, money(order.total, order.currency)))),
  );
}

function transitions(order) {
  const steps = [
    ["Placed", order.placed_at],
    ["Paid", order.payment?.paid_at],
    ["Shipped", order.shipments?.[0]?.shipped_at ?? order.shipment?.shipped_at],
    ["Delivered", order.delivered_at],
    ["Cancelled", order.cancelled_at],
  ].filter(([, at]) => at);
  return h("ol", { class: "steps" }, steps.map(([name, at]) => h("li", {}, h("strong", {}, name), " ", time(at), name === "Cancelled" && order.cancel_reason ? [": ", order.cancel_reason] : null)));
}

function notes(order) {
  const list = order.notes || [];
  if (!list.length && order.note_count) return h("p", { class: "muted" }, `${order.note_count} note(s): see the timeline (this document predates notes in search; a rebuild adds them).`);
  if (!list.length) return h("p", { class: "muted" }, "No notes yet.");
  return h("ul", { class: "notes" }, list.map((note) => h("li", {}, h("p", { class: "note-text" }, note.text), h("p", { class: "muted" }, note.author, " · ", time(note.added_at)))));
}

// An erased customer: say so once, with when and by whom, instead of leaving "[erased]" to explain itself.
function erasedNotice(order, history) {
  if (!order.personal_data_erased) return null;
  const erasure = history?.events.findLast((event) => event.type === "OrderPersonalDataErased");
  const when = erasure ? [" on ", time(erasure.data.erased_at), " by ", erasure.metadata?.actor?.name ?? "–"] : null;
  return h(
    "p",
    { class: "notice erased", role: "note" },
    h("strong", {}, "This customer's personal data was erased"),
    when,
    ". Their name, e-mail, address and the text of notes are gone for good; the order itself, its money and its timeline stay.",
  );
}

function timeline(history) {
  if (!history) return h("p", { class: "muted" }, "Loading the timeline…");
  return h(
    "table",
    { class: "timeline" },
    h("caption", {}, "Every event of this order, from the event store"),
    h("thead", {}, h("tr", {}, ["Revision", "Event", "Recorded", "By", "Position", "Archived"].map((name, i) => h("th", { scope: "col", class: i === 0 || i === 4 ? "number" : null }, name)))),
    h(
      "tbody",
      {},
      history.events.map((event) =>
        h(
          "tr",
          { class: event.archived ? "archived" : null },
          h("td", { class: "number" }, event.revision),
          h("td", {}, event.type),
          h("td", {}, time(event.recorded_at)),
          h("td", {}, event.metadata?.actor?.name ?? "–"),
          h("td", { class: "number" }, event.position),
          h("td", {}, event.archived ? h("span", { class: "badge archived" }, "archived") : null),
        ),
      ),
    ),
  );
}

// One agent action: a labelled field, a button, and what the server said. The page redraws
// itself after a success (``after``), so the form only has to report a failure.
function actionForm({ orderId, command, field, label, button, danger, failed, after }) {
  const said = h("p", { role: "status", class: "muted" });
  async function submit(event) {
    event.preventDefault();
    await whileSubmitting(event.target, said, failed, async () => {
      const path = `/orders/${encodeURIComponent(orderId)}/${command}`;
      const result = await api(path, { method: "POST", body: { [field.name]: field.value } });
      field.value = "";
      await after(result, said);
    });
  }
  return h(
    "form",
    { class: "action", onsubmit: submit },
    h("label", { for: field.id }, label),
    field,
    h("button", { type: "submit", class: danger ? "danger" : null }, button),
    said,
  );
}

function noteForm(orderId, after) {
  const field = h("textarea", { id: "note-text", name: "text", rows: 3, required: true, maxlength: 5000 });
  return actionForm({ orderId, command: "notes", field, label: "Add a note", button: "Add note", failed: "Not saved", after });
}


export async function orderView(main, { path, can }) {
  const orderId = decodeURIComponent(path.slice("/console/orders/".length));
  document.title = `Order ${orderId} – Orders console`;
  const url = `/orders/${encodeURIComponent(orderId)}`;
  let history = null;
  let order = null;
  let stale = false;
  let strong = false;
  let message = null;
  let place = "top";
  const page = h("article", { class: "order" });
  replace(main, page);

  // ``place``: where ``message`` shows (the top, or the section acted in); ``focus``: what
  // gets the focus after the redraw (never the page's top after an action).
  function draw(shown, { where = "top", focus = null } = {}) {
    message = shown;
    place = where;
    const actions = [];
    const changes = [];
    if (can("agent")) {
      actions.push(noteForm(orderId, afterCommand("notes")));
      const unshipped = UNSHIPPED.has(order.status) && !(order.shipments || []).length;
      const changed = afterCommand("changes");
      if (order.payment && refundable(order) > 0) changes.push(refundForm(order, changed));
      if (returnable(order).length) changes.push(returnForm(order, changed));
      if (unshipped && !order.personal_data_erased) changes.push(addressForm(order, changed));
      if (unshipped) changes.push(cancelForm(order, changed));
    }
    replace(
      page,
      h("p", {}, h("a", { href: "#", onclick: (event) => { event.preventDefault(); window.history.back(); } }, "← Back")),
      h("h1", {}, "Order ", h("span", { class: "mono" }, orderId), " ", statusBadge(order.status)),
      strong ? asOfLine(null) : asOfLine(order.as_of, { stale }),
      message && place === "top" ? h("p", { role: "status", class: "notice", id: "top-said", tabindex: -1 }, message) : null,
      order.projection_error
        ? h("div", { class: "behind-box", role: "alert" },
            h("p", {}, h("strong", {}, "This order's search document is behind its events: "), order.projection_error),
            h("p", {}, "What you see below may be missing its latest changes. Load it from the event store for the authoritative state."),
            strong ? null : h("p", {}, strongButton()))
        : null,
      erasedNotice(order, history),
      h(
        "div",
        { class: "grid" },
        h("section", {}, h("h2", {}, "Customer"), definitions([["Name", order.customer?.name], ["E-mail", email(order.customer?.email)], ["Customer id", order.customer?.id ? h("a", { href: `/console/customers/${encodeURIComponent(order.customer.id)}` }, order.customer.id) : null]])),
        h("section", {}, h("h2", {}, "Shipping address"), address(order.shipping_address, order.personal_data_erased)),
        h("section", {}, h("h2", {}, "Payment"), moneySection(order)),
        h("section", {}, h("h2", {}, "Shipments"), shipmentsSection(order)),
      ),
      h("section", {}, h("h2", {}, "Items"), items(order)),
      h("section", {}, h("h2", {}, "Status"), transitions(order)),
      h("section", {}, h("h2", { id: "changes", tabindex: -1 }, "Refunds and returns"), said("changes"), refundsAndReturns(order), changes),
      h("section", {}, h("h2", { id: "notes", tabindex: -1 }, "Notes"), said("notes"), notes(order), actions),
      h(
        "section",
        {},
        h("h2", {}, "Timeline"),
        timeline(history),
        strong || order.projection_error ? null : h("p", { class: "engineers" }, strongButton(), " ", h("span", { class: "muted" }, "(for engineers: folds the order from its events)")),
      ),
    );
    if (focus === "notes") document.getElementById("note-text")?.focus();
    else if (focus === "changes") document.getElementById("changes-said")?.focus();
    else if (focus === "top") document.getElementById("top-said")?.focus();
  }

  // What the last command said, in the section where the agent acted.
  function said(where) {
    if (!message || where !== place) return null;
    return h("p", { role: "status", class: "notice", id: `${where}-said`, tabindex: -1 }, message);
  }

  function strongButton() {
    return h("button", { type: "button", onclick: loadStrong }, "Load from event store");
  }

  async function loadHistory() {
    try {
      history = await api(`${url}/history`);
    } catch (error) {
      history = { events: [] };
    }
  }

  async function loadStrong() {
    order = await api(`${url}?consistency=strong`);
    strong = true;
    draw("Loaded from the event store: this is the authoritative state.", { focus: "top" });
  }

  // After a command, wait for the projection to reach the version it produced, then show it
  // where the agent acted, with the focus there: the note box for a note (the next one), the
  // section's message for a refund, a return, an address change or a cancellation.
  function afterCommand(where) {
    return async (result, saying) => {
      replace(saying, "Saved; applying it to search…");
      const [fresh] = await Promise.all([api(`${url}${query({ min_version: result.version, wait_ms: 5000 })}`), loadHistory()]);
      order = fresh;
      stale = fresh.stale;
      strong = false;
      const text = stale ? "Saved. Search is still applying it: it will show here shortly (reload to check)." : "Saved.";
      draw(text, { where, focus: where });
    };
  }

  let opening = null;
  try {
    [order] = await Promise.all([api(url), loadHistory()]);
  } catch (error) {
    if (error.status !== 404) {
      replace(page, h("h1", {}, `Order ${orderId}`), h("p", { class: "error", role: "alert" }, error.message));
      return;
    }
    // Not in search (yet): the event store may know it already.
    try {
      order = await api(`${url}?consistency=strong`);
      strong = true;
      opening = "Search does not have this order yet; shown from the event store.";
    } catch {
      replace(page, h("h1", {}, "No such order"), h("p", {}, `No order has the id ${orderId}.`), h("p", {}, h("a", { href: "/" }, "Search orders")));
      return;
    }
  }
  draw(opening);
  main.focus();
}
