// Amounts typed and shown in currency units, kept as integer minor units. How many digits a
// currency has is the server's ISO 4217 table (the shell's data-currencies, "EUR:2 JPY:0 …"),
// so the console and the command API never disagree about a minor unit (CLDR, which Intl
// follows, gives IQD none where ISO 4217 gives it three).
const table = new Map(
  (globalThis.document?.body?.dataset.currencies || "")
    .split(" ")
    .filter(Boolean)
    .map((pair) => pair.split(":"))
    .map(([code, places]) => [code, Number(places)]),
);

// The codes the command API accepts, sorted.
export const CURRENCIES = [...table.keys()].sort();

// Digits after the point the currency has (EUR 2, JPY 0, KWD 3).
export function digits(currency) {
  if (table.has(currency)) return table.get(currency);
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

// "12.50" EUR → 1250: in text, never through a float, so no amount is off by a cent.
export function toMinor(text, currency) {
  const places = digits(currency);
  const pattern = places ? new RegExp(`^(\\d{1,13})(?:[.,](\\d{1,${places}}))?$`) : /^(\d{1,15})$/;
  const found = pattern.exec(text.trim());
  if (!found) throw new Error(places ? `type an amount such as 12.${"50".padEnd(places, "0").slice(0, places)}` : "type a whole amount such as 1200");
  const fraction = (found[2] || "").padEnd(places, "0");
  return Number(found[1]) * 10 ** places + Number(fraction || 0);
}

// 1250 EUR → "12.50": what toMinor reads back, so an amount survives a round trip by the URL.
export function fromMinor(minor, currency) {
  const places = digits(currency);
  const text = String(minor).padStart(places + 1, "0");
  return places ? `${text.slice(0, -places)}.${text.slice(-places)}` : text;
}
