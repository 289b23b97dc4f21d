// The page's words, in English and in US Spanish: the account's language (its `locale`)
// once the billing is loaded, the browser's before. `{name}` is replaced with a value by
// `t()`; every string ends up in textContent, never in HTML. Spanish follows the help
// article and the emails: "clientes potenciales", "gerente de cuenta", "saldo vencido",
// "período de gracia", "Información de facturación".

export const MESSAGES = {
  en: {
    documentTitle: "Billing information · Lead Manager",
    brand: "Lead Manager",
    title: "Billing information",
    loading: "Loading…",
    signOut: "Sign out",
    signIn: "Sign in",
    signInPrompt: "Sign in to see your billing information and update your card.",
    signInFailed: "The sign-in did not complete ({code}). Please sign in again.",
    loadFailed: "We could not load your billing information ({code}). Please try again in a moment.",
    noAccount: "There is no billing account for this sign-in. Please contact your account manager.",
    sessionEnded: "Your session ended. Please sign in again.",

    statusTitle: "Account status",
    statusActive: "Active",
    statusPaused: "Paused",
    activeExplain: "Your account is receiving leads.",
    pausedBudget: "Paused since {since}: you reached your monthly budget of {budget}.",
    pausedNonPayment:
      "Paused since {since} for non-payment: {pastDue} is past due and the grace period has ended.",
    todoTitle: "What to do",
    todoBudget:
      "Leads resume when your budget resets on {reset}. To receive leads sooner, raise your monthly budget below.",
    todoNonPayment:
      "Update your card below: we charge the past-due balance to it at once, and your account receives leads again as soon as it is paid.",
    graceRunning:
      "A payment failed: {pastDue} is past due. You keep receiving leads until the grace period ends on {end}.",
    todoGrace:
      "Update your card before then: we charge what is past due at once. If it is still past due at the end, your account is paused.",
    graceLabel: "Grace period ends in",
    graceEnded: "The grace period ended on {end}.",

    cardTitle: "Card on file",
    cardNone: "No card on file.",
    cardName: "{brand} ending in {last4}",
    cardExpires: "Expires {month}/{year}",
    cardExpired: "Expired",
    cardExpiredHint: "This card has expired: update it so that your invoices can be paid.",
    cardUpdate: "Update card",
    cardAdd: "Add a card",
    cardHint:
      "Your card details go straight to Stripe, our payment processor: they never reach our servers.",
    cardSave: "Save card",
    cardSaving: "Saving…",
    cancel: "Cancel",
    cardSaved: "Card saved: {card}.",
    cardCollected: "We charged the past-due balance of {amount} to it.",
    cardNothingDue: "Nothing was past due, so nothing was charged.",
    cardStillPastDue:
      "The charge of the past-due balance ({amount}) was declined on this card: please try another card.",
    cardActiveAgain: "Your account is active again: you are receiving leads.",
    cardStillPausedBudget:
      "Your account is still paused because you reached your monthly budget; raise it below to receive leads now.",
    cardDeclined:
      "Your card was declined. Nothing was charged and your card on file did not change. Please try another card or call your bank.",
    cardAuthFailed:
      "The card's authentication (3-D Secure) failed or was cancelled. Nothing was charged and your card on file did not change.",
    cardExpiredError: "This card has expired. Nothing was charged; please use another card.",
    cardCvcError: "The card's security code (CVC) is incorrect. Nothing was charged.",
    cardNumberError: "The card number is incorrect. Nothing was charged.",
    cardProcessingError:
      "An error occurred while processing the card. Nothing was charged; please try again.",
    cardOtherError:
      "The card could not be saved: {message} Nothing was charged and your card on file did not change.",
    cardConfirmFailed:
      "Stripe accepted the card, but we could not save it to your account ({code}). Please try again.",
    stripeUnavailable: "The card form could not be loaded. Please try again in a moment.",

    budgetTitle: "Monthly budget",
    budgetUsed: "{spent} used of {budget}",
    budgetRemaining: "{remaining} remaining in this period",
    budgetReset: "This period started on {start} and your budget resets on {reset}.",
    budgetNew: "New monthly budget (USD)",
    budgetChange: "Change budget",
    budgetInvalid: "Enter an amount in dollars, such as 1500 or 1500.00.",
    budgetSaved: "Your monthly budget is now {amount}.",

    balancesTitle: "Balance",
    unbilled: "Unbilled leads",
    pastDue: "Past due",
    credit: "Account credit",
    nextWeekly: "Next invoice: {at}, for the leads unbilled by then (no invoice if there are none).",
    nextThreshold: "An invoice is being issued now: your unbilled leads reached {threshold}.",
    thresholdLeft:
      "You are invoiced before Friday as soon as your unbilled leads reach {threshold} ({left} to go).",

    invoicesTitle: "Invoices",
    invoicesNone: "No invoices yet.",
    invoicesMore: "More invoices",
    colIssued: "Issued",
    colInvoice: "Invoice",
    colKind: "Type",
    colStatus: "Status",
    colTotal: "Total",
    colCredit: "Credit",
    colDue: "Amount due",
    colActions: "Details",
    kind_weekly: "Weekly",
    kind_threshold: "Threshold",
    status_paid: "Paid",
    status_past_due: "Past due",
    status_open: "Open",
    showLeads: "Leads",
    hideLeads: "Hide leads",
    pdf: "PDF",
    pdfNotReady: "The PDF is ready once the invoice email has been sent.",
    pdfFailed: "The PDF could not be downloaded ({code}).",
    leadsOf: "{count} lead(s) of invoice {invoice}",
    colDelivered: "Delivered",
    colCategory: "Category",
    colLead: "Lead",
    colAmount: "Amount",
    paidWith: "Paid with {brand} ending in {last4}.",

    managerTitle: "Questions?",
    managerText: "Your account manager, {name}, is happy to help:",
    timezoneNote: "Dates and times are in your account's time zone, {zone}.",
  },

  es: {
    documentTitle: "Información de facturación · Lead Manager",
    brand: "Administrador de Prospectos",
    title: "Información de facturación",
    loading: "Cargando…",
    signOut: "Cerrar sesión",
    signIn: "Iniciar sesión",
    signInPrompt: "Inicie sesión para ver su información de facturación y actualizar su tarjeta.",
    signInFailed: "El inicio de sesión no se completó ({code}). Vuelva a iniciar sesión.",
    loadFailed:
      "No pudimos cargar su información de facturación ({code}). Inténtelo de nuevo en un momento.",
    noAccount:
      "No hay una cuenta de facturación para este inicio de sesión. Comuníquese con su gerente de cuenta.",
    sessionEnded: "Su sesión terminó. Vuelva a iniciar sesión.",

    statusTitle: "Estado de la cuenta",
    statusActive: "Activa",
    statusPaused: "En pausa",
    activeExplain: "Su cuenta está recibiendo clientes potenciales.",
    pausedBudget: "En pausa desde {since}: alcanzó su presupuesto mensual de {budget}.",
    pausedNonPayment:
      "En pausa desde {since} por falta de pago: tiene un saldo vencido de {pastDue} y el período de gracia terminó.",
    todoTitle: "Qué hacer",
    todoBudget:
      "Los clientes potenciales se reanudarán cuando su presupuesto se restablezca el {reset}. Para recibirlos antes, aumente su presupuesto mensual más abajo.",
    todoNonPayment:
      "Actualice su tarjeta más abajo: le cobraremos de inmediato el saldo vencido y su cuenta volverá a recibir clientes potenciales en cuanto se pague.",
    graceRunning:
      "Un pago no se realizó: tiene un saldo vencido de {pastDue}. Seguirá recibiendo clientes potenciales hasta que termine el período de gracia, el {end}.",
    todoGrace:
      "Actualice su tarjeta antes de esa fecha: cobraremos lo vencido de inmediato. Si al final el saldo sigue vencido, su cuenta se pausará.",
    graceLabel: "El período de gracia termina en",
    graceEnded: "El período de gracia terminó el {end}.",

    cardTitle: "Tarjeta registrada",
    cardNone: "No hay una tarjeta registrada.",
    cardName: "{brand} terminada en {last4}",
    cardExpires: "Vence {month}/{year}",
    cardExpired: "Vencida",
    cardExpiredHint: "Esta tarjeta está vencida: actualícela para que podamos cobrar sus facturas.",
    cardUpdate: "Actualizar tarjeta",
    cardAdd: "Agregar una tarjeta",
    cardHint:
      "Los datos de su tarjeta van directamente a Stripe, nuestro procesador de pagos: nunca llegan a nuestros servidores.",
    cardSave: "Guardar tarjeta",
    cardSaving: "Guardando…",
    cancel: "Cancelar",
    cardSaved: "Tarjeta guardada: {card}.",
    cardCollected: "Le cobramos el saldo vencido de {amount}.",
    cardNothingDue: "No había saldo vencido, así que no se cobró nada.",
    cardStillPastDue:
      "El cargo del saldo vencido ({amount}) fue rechazado en esta tarjeta: pruebe con otra tarjeta.",
    cardActiveAgain: "Su cuenta está activa de nuevo: vuelve a recibir clientes potenciales.",
    cardStillPausedBudget:
      "Su cuenta sigue en pausa porque alcanzó su presupuesto mensual; auméntelo más abajo para recibir clientes potenciales ahora.",
    cardDeclined:
      "Su tarjeta fue rechazada. No se cobró nada y su tarjeta registrada no cambió. Pruebe con otra tarjeta o llame a su banco.",
    cardAuthFailed:
      "La autenticación de la tarjeta (3-D Secure) no se completó o se canceló. No se cobró nada y su tarjeta registrada no cambió.",
    cardExpiredError: "Esta tarjeta está vencida. No se cobró nada; use otra tarjeta.",
    cardCvcError: "El código de seguridad (CVC) de la tarjeta es incorrecto. No se cobró nada.",
    cardNumberError: "El número de la tarjeta es incorrecto. No se cobró nada.",
    cardProcessingError:
      "Ocurrió un error al procesar la tarjeta. No se cobró nada; inténtelo de nuevo.",
    cardOtherError:
      "No se pudo guardar la tarjeta: {message} No se cobró nada y su tarjeta registrada no cambió.",
    cardConfirmFailed:
      "Stripe aceptó la tarjeta, pero no pudimos guardarla en su cuenta ({code}). Inténtelo de nuevo.",
    stripeUnavailable: "No se pudo cargar el formulario de la tarjeta. Inténtelo de nuevo en un momento.",

    budgetTitle: "Presupuesto mensual",
    budgetUsed: "{spent} usados de {budget}",
    budgetRemaining: "Quedan {remaining} en este período",
    budgetReset: "Este período empezó el {start} y su presupuesto se restablece el {reset}.",
    budgetNew: "Nuevo presupuesto mensual (USD)",
    budgetChange: "Cambiar presupuesto",
    budgetInvalid: "Escriba un monto en dólares, por ejemplo 1500 o 1500.00.",
    budgetSaved: "Su presupuesto mensual ahora es de {amount}.",

    balancesTitle: "Saldo",
    unbilled: "Clientes potenciales sin facturar",
    pastDue: "Saldo vencido",
    credit: "Crédito de la cuenta",
    nextWeekly:
      "Próxima factura: {at}, por los clientes potenciales sin facturar hasta entonces (si no hay ninguno, no habrá factura).",
    nextThreshold:
      "Estamos emitiendo una factura ahora: sus clientes potenciales sin facturar alcanzaron {threshold}.",
    thresholdLeft:
      "Le facturamos antes del viernes en cuanto sus clientes potenciales sin facturar lleguen a {threshold} (faltan {left}).",

    invoicesTitle: "Facturas",
    invoicesNone: "Aún no hay facturas.",
    invoicesMore: "Más facturas",
    colIssued: "Emitida",
    colInvoice: "Factura",
    colKind: "Tipo",
    colStatus: "Estado",
    colTotal: "Total",
    colCredit: "Crédito",
    colDue: "Monto a pagar",
    colActions: "Detalles",
    kind_weekly: "Semanal",
    kind_threshold: "Por monto alcanzado",
    status_paid: "Pagada",
    status_past_due: "Vencida",
    status_open: "Por cobrar",
    showLeads: "Clientes potenciales",
    hideLeads: "Ocultar",
    pdf: "PDF",
    pdfNotReady: "El PDF estará listo cuando se haya enviado el correo de la factura.",
    pdfFailed: "No se pudo descargar el PDF ({code}).",
    leadsOf: "{count} cliente(s) potencial(es) de la factura {invoice}",
    colDelivered: "Entregado",
    colCategory: "Categoría",
    colLead: "Cliente potencial",
    colAmount: "Monto",
    paidWith: "Pagada con {brand} terminada en {last4}.",

    managerTitle: "¿Tiene preguntas?",
    managerText: "Su gerente de cuenta, {name}, con gusto le ayuda:",
    timezoneNote: "Las fechas y horas están en la zona horaria de su cuenta, {zone}.",
  },
};

/** The language of a locale tag ("es-MX" -> "es"), English when the page has no words for it. */
export function language(tag) {
  const code = String(tag || "").toLowerCase().split("-")[0];
  return Object.hasOwn(MESSAGES, code) ? code : "en";
}

/** A function that gives the words of `key` in `lang`, with `{name}` replaced by params.name. */
export function translator(lang) {
  const words = MESSAGES[language(lang)];
  return (key, params = {}) => {
    const text = Object.hasOwn(words, key) ? words[key] : MESSAGES.en[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (whole, name) =>
      Object.hasOwn(params, name) ? String(params[name]) : whole,
    );
  };
}
