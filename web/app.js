// The Lead Manager's billing page (R13, R11): the contractor's status and why, the grace
// period, budget, balances, next invoice, invoices with their leads and PDFs, the card on
// file, the budget form, and the card update through Stripe.js (card numbers go from the
// browser to Stripe only). Everything it shows comes from the API of openapi.json, with
// the contractor's access token, and is written as text (textContent), never as HTML.

import { accessToken, finishSignIn, forgetToken, SignInError, startSignIn } from "./auth.js";
import { dateTime, day, duration, money, parseDollars } from "./format.js";
import { language, translator } from "./i18n.js";

const INVOICE_PAGE_SIZE = 10;

const page = {
  config: null,
  lang: language(navigator.language),
  t: translator(navigator.language),
  billing: null,
  clockOffset: 0, // the local stack's simulated clock minus this browser's
  countdown: null,
  invoiceCursor: null,
  stripe: null,
  card: null, // { element, setup: {setup_intent_id, client_secret} | null }
};

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

class SignedOut extends Error {}

// ---------------------------------------------------------------------------- the API

async function api(path, { method = "GET", body, accept = "application/json" } = {}) {
  const token = accessToken();
  if (!token) throw new SignedOut();
  const headers = { Authorization: `Bearer ${token}`, Accept: accept };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`${page.config.api_base_url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (response.status === 401) {
    forgetToken();
    throw new SignedOut();
  }
  if (!response.ok) {
    const error = await response.json().catch(() => ({}));
    throw new ApiError(response.status, error.error || `http_${response.status}`, error.message);
  }
  return accept === "application/json" ? response.json() : response;
}

// ---------------------------------------------------------------------------- words

function useLanguage(lang) {
  page.lang = language(lang);
  page.t = translator(page.lang);
  document.documentElement.lang = page.lang;
  document.title = page.t("documentTitle");
  for (const element of document.querySelectorAll("[data-i18n]")) {
    element.textContent = page.t(element.dataset.i18n);
  }
}

const amount = (cents) => money(cents, page.lang);
const when = (iso) => dateTime(iso, page.lang, page.billing.timezone);
const onDay = (iso) => day(iso, page.lang, page.billing.timezone);
const now = () => Date.now() + page.clockOffset;

function show(element, visible) {
  element.hidden = !visible;
}

function message(element, text, kind) {
  element.textContent = text;
  element.className = `alert ${kind}`;
  show(element, Boolean(text));
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function badge(text, kind) {
  const span = document.createElement("span");
  span.className = `badge ${kind}`;
  span.textContent = text;
  return span;
}

// ---------------------------------------------------------------------------- rendering

function renderBilling(billing) {
  page.billing = billing;
  useLanguage(billing.locale);
  const t = page.t;
  $("who").textContent = `${billing.business_name} · ${billing.contractor_id}`;
  show($("sign-out"), true);

  // Status and why (R12), and what to do.
  const paused = billing.status === "paused";
  const statusBadge = $("status-badge");
  statusBadge.textContent = paused ? t("statusPaused") : t("statusActive");
  statusBadge.className = `badge ${paused ? "danger" : "ok"}`;
  const reasons = $("status-reasons");
  reasons.replaceChildren();
  const todo = [];
  for (const pause of billing.pauses) {
    const item = document.createElement("li");
    if (pause.reason === "non_payment") {
      item.textContent = t("pausedNonPayment", {
        since: when(pause.since),
        pastDue: amount(billing.past_due_cents),
      });
      todo.push(t("todoNonPayment"));
    } else {
      item.textContent = t("pausedBudget", {
        since: when(pause.since),
        budget: amount(billing.budget.monthly_cents),
      });
      todo.push(t("todoBudget", { reset: when(billing.budget.next_reset) }));
    }
    item.dataset.reason = pause.reason;
    reasons.append(item);
  }
  const graceRuns = billing.grace_ends_at !== null && Date.parse(billing.grace_ends_at) > now();
  if (!paused) {
    const item = document.createElement("li");
    item.textContent = graceRuns
      ? t("graceRunning", { pastDue: amount(billing.past_due_cents), end: when(billing.grace_ends_at) })
      : t("activeExplain");
    reasons.append(item);
    if (graceRuns) todo.push(t("todoGrace"));
  }
  $("status-todo").textContent = todo.join(" ");
  show($("status-todo-block"), todo.length > 0);
  renderGrace();

  // The card on file.
  const card = billing.card;
  show($("card-summary"), card !== null);
  show($("card-none"), card === null);
  if (card !== null) {
    $("card-name").textContent = t("cardName", { brand: brandName(card.brand), last4: card.last4 });
    $("card-expiry").textContent = t("cardExpires", {
      month: String(card.exp_month).padStart(2, "0"),
      year: card.exp_year,
    });
  }
  show($("card-expired"), card !== null && card.expired);
  show($("card-expired-hint"), card !== null && card.expired);
  $("card-update").textContent = card === null ? t("cardAdd") : t("cardUpdate");

  // Budget (R7, R8).
  const budget = billing.budget;
  $("budget-used").textContent = t("budgetUsed", {
    spent: amount(budget.spent_cents),
    budget: amount(budget.monthly_cents),
  });
  const bar = $("budget-bar");
  bar.max = Math.max(budget.monthly_cents, 1);
  bar.value = Math.min(budget.spent_cents, budget.monthly_cents);
  $("budget-remaining").textContent = t("budgetRemaining", { remaining: amount(budget.remaining_cents) });
  $("budget-reset").textContent = t("budgetReset", {
    start: onDay(budget.period_start),
    reset: when(budget.next_reset),
  });

  // Balances and the next invoice (R3, R4).
  $("unbilled").textContent = amount(billing.unbilled_cents);
  $("past-due").textContent = amount(billing.past_due_cents);
  $("past-due").classList.toggle("danger-text", billing.past_due_cents > 0);
  $("credit").textContent = amount(billing.credit_cents);
  const next = billing.next_invoice;
  $("next-invoice").textContent =
    next.kind === "threshold"
      ? t("nextThreshold", { threshold: amount(billing.threshold_cents) })
      : t("nextWeekly", { at: when(next.at) });
  $("threshold").textContent = t("thresholdLeft", {
    threshold: amount(billing.threshold_cents),
    left: amount(billing.threshold_remaining_cents),
  });

  // Who to ask.
  const manager = billing.account_manager;
  $("manager-text").textContent = t("managerText", { name: manager.name });
  const phone = $("manager-phone");
  phone.textContent = manager.phone;
  phone.href = `tel:${manager.phone.replace(/[^\d+]/g, "")}`;
  const email = $("manager-email");
  email.textContent = manager.email;
  email.href = `mailto:${manager.email}`;
  $("timezone-note").textContent = t("timezoneNote", { zone: billing.timezone });

  show($("loading"), false);
  show($("signed-out"), false);
  show($("billing"), true);
}

function brandName(brand) {
  const names = { visa: "Visa", mastercard: "Mastercard", amex: "American Express", discover: "Discover" };
  return names[String(brand).toLowerCase()] || brand;
}

/** The grace end (R9), and while it runs, the time left, counted down every second. */
function renderGrace() {
  clearInterval(page.countdown);
  const billing = page.billing;
  const block = $("grace");
  if (billing.grace_ends_at === null) {
    show(block, false);
    return;
  }
  show(block, true);
  const end = Date.parse(billing.grace_ends_at);
  const tick = () => {
    const left = end - now();
    if (left > 0) {
      $("grace-label").textContent = page.t("graceLabel");
      $("grace-countdown").textContent = duration(left, page.lang);
    } else {
      clearInterval(page.countdown);
      $("grace-label").textContent = page.t("graceEnded", { end: when(billing.grace_ends_at) });
      $("grace-countdown").textContent = "";
    }
  };
  tick();
  if (end > now()) page.countdown = setInterval(tick, 1000);
}

// ---------------------------------------------------------------------------- invoices

async function loadInvoices(more = false) {
  const query = new URLSearchParams({ limit: String(INVOICE_PAGE_SIZE) });
  if (more && page.invoiceCursor) query.set("cursor", page.invoiceCursor);
  const answer = await api(`/me/invoices?${query}`);
  const body = $("invoices-body");
  if (!more) body.replaceChildren();
  for (const invoice of answer.items) body.append(...invoiceRows(invoice));
  page.invoiceCursor = answer.next_cursor;
  show($("invoices-more"), answer.next_cursor !== null);
  const none = body.children.length === 0;
  show($("invoices-none"), none);
  show($("invoices-table"), !none);
}

function invoiceRows(invoice) {
  const t = page.t;
  const row = document.createElement("tr");
  row.dataset.invoice = invoice.invoice_id;
  cell(row, onDay(invoice.issued_at));
  cell(row, invoice.invoice_id, "mono");
  cell(row, t(`kind_${invoice.kind}`));
  const status = cell(row, "");
  const kinds = { paid: "ok", past_due: "danger", open: "neutral" };
  status.append(badge(t(`status_${invoice.status}`), kinds[invoice.status] || "neutral"));
  cell(row, amount(invoice.total_cents), "num");
  cell(row, invoice.credit_applied_cents ? `−${amount(invoice.credit_applied_cents)}` : "—", "num");
  cell(row, amount(invoice.amount_due_cents), "num");
  const actions = cell(row, "", "row-actions");
  const leads = document.createElement("button");
  leads.type = "button";
  leads.className = "small";
  leads.textContent = t("showLeads");
  leads.setAttribute("aria-expanded", "false");
  const pdf = document.createElement("button");
  pdf.type = "button";
  pdf.className = "small";
  pdf.textContent = t("pdf");
  actions.append(leads, " ", pdf);

  const detailRow = document.createElement("tr");
  detailRow.className = "detail";
  detailRow.hidden = true;
  const detail = document.createElement("td");
  detail.colSpan = 8;
  detailRow.append(detail);

  leads.addEventListener("click", () => toggleLeads(invoice, leads, detailRow, detail));
  pdf.addEventListener("click", () => downloadPdf(invoice, pdf, detailRow, detail));
  return [row, detailRow];
}

async function toggleLeads(invoice, button, detailRow, detail) {
  const t = page.t;
  if (!detailRow.hidden && detail.dataset.kind === "leads") {
    detailRow.hidden = true;
    button.textContent = t("showLeads");
    button.setAttribute("aria-expanded", "false");
    return;
  }
  button.disabled = true;
  try {
    const full = await api(`/me/invoices/${encodeURIComponent(invoice.invoice_id)}`);
    detail.replaceChildren(leadsTable(full));
    detail.dataset.kind = "leads";
    detailRow.hidden = false;
    button.textContent = t("hideLeads");
    button.setAttribute("aria-expanded", "true");
  } catch (error) {
    showDetailError(detail, detailRow, error, t("pdfFailed", { code: errorCode(error) }));
  } finally {
    button.disabled = false;
  }
}

function leadsTable(invoice) {
  const t = page.t;
  const wrapper = document.createElement("div");
  const caption = document.createElement("p");
  caption.className = "muted";
  caption.textContent = t("leadsOf", { count: invoice.lead_count, invoice: invoice.invoice_id });
  const table = document.createElement("table");
  table.className = "leads";
  const head = table.createTHead().insertRow();
  for (const key of ["colDelivered", "colCategory", "colLead", "colAmount"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = t(key);
    head.append(th);
  }
  const body = table.createTBody();
  for (const line of invoice.lines) {
    const row = body.insertRow();
    cell(row, when(line.delivered_at));
    cell(row, line.category);
    cell(row, line.lead_id, "mono");
    cell(row, amount(line.amount_cents), "num");
  }
  wrapper.append(caption, table);
  if (invoice.paid_with) {
    const paid = document.createElement("p");
    paid.className = "muted";
    paid.textContent = t("paidWith", {
      brand: brandName(invoice.paid_with.brand),
      last4: invoice.paid_with.last4,
    });
    wrapper.append(paid);
  }
  return wrapper;
}

/** The invoice's PDF as its email carried it (GET /me/invoices/{id}/pdf), saved as a file. */
async function downloadPdf(invoice, button, detailRow, detail) {
  button.disabled = true;
  try {
    const response = await api(`/me/invoices/${encodeURIComponent(invoice.invoice_id)}/pdf`, {
      accept: "application/pdf",
    });
    const blob = await response.blob();
    const disposition = response.headers.get("Content-Disposition") || "";
    const named = /filename="([^"]+)"/.exec(disposition);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = named ? named[1] : `${invoice.invoice_id}.pdf`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  } catch (error) {
    const text =
      error instanceof ApiError && error.code === "document_not_ready"
        ? page.t("pdfNotReady")
        : page.t("pdfFailed", { code: errorCode(error) });
    showDetailError(detail, detailRow, error, text);
  } finally {
    button.disabled = false;
  }
}

function showDetailError(detail, detailRow, error, text) {
  if (error instanceof SignedOut) return signedOut(page.t("sessionEnded"));
  const note = document.createElement("p");
  note.className = "alert error";
  note.setAttribute("role", "alert");
  note.textContent = text;
  detail.replaceChildren(note);
  detail.dataset.kind = "error";
  detailRow.hidden = false;
}

// ---------------------------------------------------------------------------- the card (R11)

function loadStripeJs() {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = page.config.stripe.js_url;
    script.addEventListener("load", () => (window.Stripe ? resolve(window.Stripe) : reject(new Error("no Stripe"))));
    script.addEventListener("error", () => reject(new Error("Stripe.js did not load")));
    document.head.append(script);
  });
}

async function openCardForm() {
  const t = page.t;
  const button = $("card-update");
  button.disabled = true;
  message($("card-error"), "", "error");
  message($("card-result"), "", "success");
  try {
    const setup = await newSetupIntent();
    const Stripe = await loadStripeJs();
    page.stripe ??= Stripe(page.config.stripe.publishable_key, { locale: page.lang });
    const element = page.stripe.elements({ locale: page.lang }).create("card", {
      hidePostalCode: false,
      style: { base: { fontSize: "16px" } },
    });
    element.mount("#card-element");
    page.card = { element, setup };
    show($("card-form"), true);
    show(button, false);
  } catch (error) {
    if (error instanceof SignedOut) return signedOut(t("sessionEnded"));
    closeCardForm();
    const text =
      error instanceof ApiError ? t("loadFailed", { code: error.code }) : t("stripeUnavailable");
    message($("card-error"), text, "error");
  } finally {
    button.disabled = false;
  }
}

function newSetupIntent() {
  // A SetupIntent for this card form (POST /me/card/setup-intent): its client secret lets
  // Stripe.js confirm the card; the API never sees the card's number.
  return api("/me/card/setup-intent", { method: "POST" });
}

function closeCardForm() {
  if (page.card) page.card.element.destroy();
  page.card = null;
  show($("card-form"), false);
  show($("card-update"), true);
}

async function saveCard(event) {
  event.preventDefault();
  const t = page.t;
  const save = $("card-save");
  if (!page.card || save.disabled) return;
  save.disabled = true;
  save.textContent = t("cardSaving");
  message($("card-error"), "", "error");
  message($("card-result"), "", "success");
  try {
    // A SetupIntent that a failed confirmation used is not used again.
    page.card.setup ??= await newSetupIntent();
    const setup = page.card.setup;
    const result = await page.stripe.confirmCardSetup(setup.client_secret, {
      payment_method: { card: page.card.element },
    });
    if (result.error) {
      page.card.setup = null;
      message($("card-error"), stripeErrorText(result.error), "error");
      return;
    }
    let confirmed;
    try {
      confirmed = await api("/me/card/confirm", {
        method: "POST",
        body: { setup_intent_id: setup.setup_intent_id },
      });
    } catch (error) {
      page.card.setup = null;
      if (error instanceof SignedOut) throw error;
      message($("card-error"), t("cardConfirmFailed", { code: errorCode(error) }), "error");
      return;
    }
    const wasPausedForPayment = page.billing.pauses.some((p) => p.reason === "non_payment");
    closeCardForm();
    renderBilling(confirmed.billing);
    message($("card-result"), cardResultText(confirmed, wasPausedForPayment), "success");
    $("card-result").classList.toggle("warning", confirmed.billing.past_due_cents > 0);
    // The invoices the card paid show as paid; the card is saved whatever this answers.
    loadInvoices().catch((error) => {
      if (error instanceof SignedOut) signedOut(t("sessionEnded"));
    });
  } catch (error) {
    if (error instanceof SignedOut) return signedOut(t("sessionEnded"));
    message($("card-error"), t("cardOtherError", { message: errorCode(error) }), "error");
  } finally {
    save.disabled = false;
    save.textContent = t("cardSave");
  }
}

function cardResultText(confirmed, wasPausedForPayment) {
  const t = page.t;
  const billing = confirmed.billing;
  const card = t("cardName", { brand: brandName(confirmed.card.brand), last4: confirmed.card.last4 });
  const sentences = [t("cardSaved", { card })];
  if (confirmed.collected_cents > 0) {
    sentences.push(t("cardCollected", { amount: amount(confirmed.collected_cents) }));
  } else if (billing.past_due_cents === 0) {
    sentences.push(t("cardNothingDue"));
  }
  if (billing.past_due_cents > 0) {
    sentences.push(t("cardStillPastDue", { amount: amount(billing.past_due_cents) }));
  } else if (billing.status === "active" && (wasPausedForPayment || confirmed.collected_cents > 0)) {
    sentences.push(t("cardActiveAgain"));
  } else if (billing.pauses.some((p) => p.reason === "budget")) {
    sentences.push(t("cardStillPausedBudget"));
  }
  return sentences.join(" ");
}

/** Stripe.js's error, plainly: declines and failed authentication by their codes. */
function stripeErrorText(error) {
  const t = page.t;
  const code = error.decline_code === "expired_card" ? "expired_card" : error.code;
  switch (code) {
    case "card_declined":
      return t("cardDeclined");
    case "setup_intent_authentication_failure":
    case "payment_intent_authentication_failure":
      return t("cardAuthFailed");
    case "expired_card":
      return t("cardExpiredError");
    case "incorrect_cvc":
    case "invalid_cvc":
      return t("cardCvcError");
    case "incorrect_number":
    case "invalid_number":
      return t("cardNumberError");
    case "processing_error":
      return t("cardProcessingError");
    default:
      return t("cardOtherError", { message: error.message || code || "error" });
  }
}

// ---------------------------------------------------------------------------- the budget (R8)

async function changeBudget(event) {
  event.preventDefault();
  const t = page.t;
  const input = $("budget-input");
  const note = $("budget-message");
  const cents = parseDollars(input.value);
  if (cents === null || cents < 1) {
    message(note, t("budgetInvalid"), "error");
    input.setAttribute("aria-invalid", "true");
    return;
  }
  input.removeAttribute("aria-invalid");
  const button = $("budget-submit");
  button.disabled = true;
  try {
    const billing = await api("/me/budget", { method: "PUT", body: { monthly_cents: cents } });
    renderBilling(billing);
    input.value = "";
    message(note, t("budgetSaved", { amount: amount(billing.budget.monthly_cents) }), "success");
  } catch (error) {
    if (error instanceof SignedOut) return signedOut(t("sessionEnded"));
    message(note, error instanceof ApiError && error.status === 400 ? t("budgetInvalid") : t("loadFailed", { code: errorCode(error) }), "error");
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------- the page

function errorCode(error) {
  return error instanceof ApiError ? error.code : error?.message || "error";
}

function signedOut(note) {
  clearInterval(page.countdown);
  forgetToken();
  show($("loading"), false);
  show($("billing"), false);
  show($("sign-out"), false);
  $("who").textContent = "";
  show($("signed-out"), true);
  message($("page-error"), note || "", "error");
}

async function load() {
  const billing = await api("/me/billing");
  renderBilling(billing);
  await loadInvoices();
}

async function main() {
  useLanguage(page.lang);
  $("sign-in").addEventListener("click", () =>
    // PKCE needs WebCrypto, which browsers give secure origins only (HTTPS, or localhost).
    startSignIn(page.config.auth).catch(() => signedOut(page.t("signInFailed", { code: "crypto" }))),
  );
  $("sign-out").addEventListener("click", () => signedOut());
  $("card-update").addEventListener("click", openCardForm);
  $("card-cancel").addEventListener("click", () => {
    closeCardForm();
    message($("card-error"), "", "error");
  });
  $("card-form").addEventListener("submit", saveCard);
  $("budget-form").addEventListener("submit", changeBudget);
  $("invoices-more").addEventListener("click", () =>
    loadInvoices(true).catch((error) => {
      if (error instanceof SignedOut) return signedOut(page.t("sessionEnded"));
      message($("page-error"), page.t("loadFailed", { code: errorCode(error) }), "error");
    }),
  );

  try {
    const response = await fetch("config.json", { cache: "no-store" });
    page.config = await response.json();
  } catch {
    message($("page-error"), page.t("loadFailed", { code: "config" }), "error");
    show($("loading"), false);
    return;
  }
  if (page.config.clock?.now) page.clockOffset = Date.parse(page.config.clock.now) - Date.now();
  try {
    await finishSignIn(page.config.auth);
  } catch (error) {
    return signedOut(page.t("signInFailed", { code: error instanceof SignInError ? error.code : "error" }));
  }
  if (!accessToken()) return signedOut();
  try {
    await load();
  } catch (error) {
    if (error instanceof SignedOut) return signedOut(page.t("sessionEnded"));
    show($("loading"), false);
    const text =
      error instanceof ApiError && error.code === "account_not_found"
        ? page.t("noAccount")
        : page.t("loadFailed", { code: errorCode(error) });
    message($("page-error"), text, "error");
  }
  document.body.dataset.ready = "true";
}

main().finally(() => {
  document.body.dataset.ready = "true";
});
