// The console's entry point: who is signed in, then one view per URL (history API, no reloads).
import { api, ApiError, setCsrfToken } from "./api.js";
import { h, replace } from "./dom.js";
import { watchFreshness } from "./freshness.js";
import { customerView } from "./customer.js";
import { orderView } from "./order.js";
import { operationsView } from "./operations.js";
import { salesView } from "./sales.js";
import { searchView } from "./search.js";

const main = document.getElementById("main");
const session = { name: null, roles: [] };
let leaving = () => {};

export function can(role) {
  return session.roles.includes(role);
}

export function navigate(url, { replaceState = false } = {}) {
  if (replaceState) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  return render();
}

async function render() {
  leaving();
  leaving = () => {};
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  let view;
  if (path === "/") view = searchView;
  else if (path.startsWith("/console/orders/")) view = orderView;
  else if (path === "/console/operations") view = operationsView;
  else if (path.startsWith("/console/customers/")) view = customerView;
  else if (path === "/console/sales") view = salesView;
  for (const link of document.querySelectorAll("[data-nav]")) {
    const here = link.getAttribute("href") === path || (link.dataset.nav === "search" && path === "/");
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!view) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "/" }, "Search orders")));
    return;
  }
  leaving = (await view(main, { path, params, navigate, can })) || (() => {});
}

// Links inside the console change the view without reloading the page.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(link.href);
  const ours = url.origin === location.origin
    && (url.pathname === "/" || url.pathname.startsWith("/console/"));
  if (!ours) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});

window.addEventListener("popstate", () => render());

function signInView(reason) {
  const error = h("p", { class: "error", role: "alert" });
  const field = h("input", {
    id: "api-key", name: "api_key", type: "password", autocomplete: "current-password",
    required: true, "aria-describedby": "api-key-help",
  });
  async function submit(event) {
    event.preventDefault();
    try {
      await api("/auth/session", { method: "POST", body: { api_key: field.value } });
      location.reload();
    } catch (failure) {
      replace(error, failure.message);
      field.focus();
    }
  }
  const singleSignOn = document.body.dataset.singleSignOn === "true";
  const next = encodeURIComponent(location.pathname + location.search);
  replace(
    main,
    h("h1", {}, "Sign in"),
    reason ? h("p", {}, reason) : null,
    singleSignOn
      ? h("p", {}, h("a", { class: "button", href: `/auth/login?next=${next}` }, "Sign in with your company account"))
      : null,
    h(
      "form",
      { class: "sign-in", onsubmit: submit },
      h("label", { for: "api-key" }, singleSignOn ? "Or with a personal API key" : "Personal API key"),
      field,
      h("p", { id: "api-key-help", class: "muted" }, "An operator creates one with: orders keys create --role agent --name <you>"),
      h("button", { type: "submit" }, "Sign in"),
      error,
    ),
  );
  field.focus();
}

function showWho() {
  const who = document.getElementById("who");
  const out = async () => {
    await api("/auth/logout", { method: "POST" });
    location.assign("/");
  };
  replace(
    who,
    h("span", {}, session.name),
    h("span", { class: "muted" }, ` (${session.roles.join(", ")})`),
    session.csrf ? h("button", { type: "button", class: "link", onclick: out }, "Sign out") : null,
  );
  document.querySelector('[data-nav="operations"]').hidden = !can("operator");
}

// Why a single sign-on came back without a session (the server sends a code, never text).
const SIGN_IN_FAILED = {
  expired: "The sign-in took too long or did not start on this page. Please start again.",
  refused: "The identity provider's answer was not accepted. Please start again, or ask an operator.",
};

function takeSignInFailure() {
  const url = new URL(location.href);
  const code = url.searchParams.get("sign_in_failed");
  if (code === null) return null;
  url.searchParams.delete("sign_in_failed");
  history.replaceState(null, "", url.pathname + url.search + url.hash);
  return SIGN_IN_FAILED[code] || SIGN_IN_FAILED.refused;
}

async function start() {
  const signInFailure = takeSignInFailure();
  try {
    const me = await api("/auth/session");
    Object.assign(session, { name: me.name, roles: me.roles, csrf: me.csrf_token });
    setCsrfToken(me.csrf_token);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      signInView(error.status === 403 ? "This credential may not use the console." : signInFailure);
      return;
    }
    replace(main, h("h1", {}, "The console cannot start"), h("p", { role: "alert" }, error.message));
    return;
  }
  showWho();
  if (!can("agent") && !can("operator")) {
    replace(main, h("h1", {}, "Not for this role"), h("p", {}, `You are signed in as ${session.name} (${session.roles.join(", ")}); the console is for agents and operators.`));
    return;
  }
  watchFreshness(document.getElementById("banner"));
  await render();
}

start();
