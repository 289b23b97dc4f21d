// Amounts, instants and durations for people, in the account's language and time zone.
// Amounts are integer cents everywhere; they are divided by 100 only to be displayed.

import { language } from "./i18n.js";

/** The Intl locale of a page language: US English or US Spanish. */
export function localeTag(lang) {
  return language(lang) === "es" ? "es-US" : "en-US";
}

/** Cents as dollars: 4500 -> "$45.00". */
export function money(cents, lang) {
  if (!Number.isInteger(cents)) throw new TypeError(`not an amount of cents: ${cents}`);
  return new Intl.NumberFormat(localeTag(lang), { style: "currency", currency: "USD" }).format(
    cents / 100,
  );
}

/**
 * Dollars typed by a person as integer cents, with no floating point on the way:
 * "1500", "1,500.5", "$1500.00" -> 150000, 150050, 150000; null when it is no amount.
 */
export function parseDollars(text) {
  const cleaned = String(text).trim().replace(/^\$\s*/, "").replace(/,/g, "");
  const match = /^(\d{1,9})(?:\.(\d{1,2}))?$/.exec(cleaned);
  if (!match) return null;
  const cents = Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0"));
  return Number.isSafeInteger(cents) ? cents : null;
}

/** An instant in the account's zone: "Fri, Mar 14, 2025, 7:00 AM CDT". */
export function dateTime(iso, lang, timeZone) {
  return new Intl.DateTimeFormat(localeTag(lang), {
    weekday: "short",
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
    timeZone,
    timeZoneName: "short",
  }).format(new Date(iso));
}

/** A day in the account's zone: "March 14, 2025". */
export function day(iso, lang, timeZone) {
  return new Intl.DateTimeFormat(localeTag(lang), { dateStyle: "long", timeZone }).format(
    new Date(iso),
  );
}

/** What is left of a period, in words: "2 days, 3 hr, 4 min, 5 sec". */
export function duration(milliseconds, lang) {
  const tag = localeTag(lang);
  let seconds = Math.max(0, Math.floor(milliseconds / 1000));
  const parts = [];
  for (const [unit, size] of [
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
    ["second", 1],
  ]) {
    const count = Math.floor(seconds / size);
    seconds -= count * size;
    // From the first unit that counts, every smaller one, so that the text keeps its shape.
    if (count > 0 || parts.length > 0 || unit === "second") {
      const display = unit === "day" ? "long" : "short";
      parts.push(new Intl.NumberFormat(tag, { style: "unit", unit, unitDisplay: display }).format(count));
    }
  }
  return new Intl.ListFormat(tag, { style: "short", type: "unit" }).format(parts);
}
