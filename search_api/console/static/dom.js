// Building the page: every piece of untrusted text goes in as a text node, never as HTML.
import { digits } from "./amounts.js";

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

// Runs a form's command with its submit button disabled (no second submission meanwhile); a
// failure is said in ``said``, after ``failed``.
export async function whileSubmitting(form, said, failed, work) {
  const pressed = form.querySelector("button[type=submit]");
  pressed.disabled = true;
  try {
    await work();
  } catch (error) {
    replace(said, `${failed}: ${error.message}`);
    said.classList.add("error");
  } finally {
    pressed.disabled = false;
  }
}

const formats = new Map();

// Money is integer minor units with an ISO 4217 currency; the currency says how many decimals.
export function money(minor, currency) {
  if (minor === null || minor === undefined) return "–";
  const places = digits(currency);
  let format = formats.get(currency);
  if (!format) {
    try {
      format = new Intl.NumberFormat(undefined, { style: "currency", currency, minimumFractionDigits: places, maximumFractionDigits: places });
    } catch {
      return `${minor} ${currency} (minor units)`;
    }
    formats.set(currency, format);
  }
  return format.format(minor / 10 ** places);
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : timeFormat.format(date);
}

export function time(iso) {
  return iso ? h("time", { datetime: iso }, when(iso)) : "–";
}

export function seconds(ms) {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const minutes = s / 60;
  return minutes < 120 ? `${minutes.toFixed(0)} min` : `${(minutes / 60).toFixed(1)} h`;
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, status);
}

export function definitions(pairs) {
  return h(
    "dl",
    { class: "pairs" },
    pairs.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? "–")]),
  );
}

// An address may break after its "@" in a narrow column, never in the middle of a word.
export function email(address) {
  if (!address || !address.includes("@")) return address;
  const at = address.lastIndexOf("@");
  return h("span", { class: "email" }, address.slice(0, at + 1), h("wbr"), address.slice(at + 1));
}
