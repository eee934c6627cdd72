// tests/e2e/lib/focus-validator.mjs - checks a FOCUS 1.2 cost-and-usage CSV (SPECS.md section 5)
//
// validateFocus(text) parses the CSV (RFC 4180) and checks: every mandatory column present,
// column names (FOCUS columns first, custom ones prefixed x_), data types (NumericFormat
// decimals, UTC DateTimeFormat, ISO 4217 currency, UnitFormat), nullability, allowed values,
// the cost identities (unit price x PricingQuantity = cost whenever both are non-null;
// tollgate has no commitments, so BilledCost = EffectiveCost = ContractedCost), periods
// (start < end, the charge period inside its billing month) and Tags as a flat JSON object of
// string values with unique keys. It throws one Error listing every problem, or returns
// { header, rows, billedNanos, listAtto, unpricedRows }: BilledCost summed as exact BigInt
// nano-dollars (finer is an error: the ledger books whole nano-dollars), ListCost in units of
// 10^-18 USD (a unit price times a quantity may be finer).
//
// tollgate's one documented deviation (docs/FOCUS.md): a row flagged x_CostStatus=unpriced has
// its four cost columns empty (NULL) instead of a number, so an unknown price is never summed
// as $0. The validator accepts exactly that and nothing else (pass { allowUnpriced: false } to
// refuse it).
//
// Also a command: node tests/e2e/lib/focus-validator.mjs FILE.csv...
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const MANDATORY = ['BilledCost', 'BillingAccountId', 'BillingAccountName', 'BillingCurrency', 'BillingPeriodEnd', 'BillingPeriodStart', 'ChargeCategory', 'ChargeClass', 'ChargeDescription', 'ChargePeriodEnd', 'ChargePeriodStart', 'ContractedCost', 'EffectiveCost', 'InvoiceIssuerName', 'ListCost', 'PricingQuantity', 'PricingUnit', 'ProviderName', 'PublisherName', 'ServiceCategory', 'ServiceName'];

// all 57 FOCUS 1.2 cost-and-usage columns (SPECS.md 5.2)
export const FOCUS_COLUMNS = new Set(['AvailabilityZone', 'BilledCost', 'BillingAccountId', 'BillingAccountName', 'BillingAccountType', 'BillingCurrency', 'BillingPeriodEnd', 'BillingPeriodStart', 'CapacityReservationId', 'CapacityReservationStatus', 'ChargeCategory', 'ChargeClass', 'ChargeDescription', 'ChargeFrequency', 'ChargePeriodEnd', 'ChargePeriodStart', 'CommitmentDiscountCategory', 'CommitmentDiscountId', 'CommitmentDiscountName', 'CommitmentDiscountQuantity', 'CommitmentDiscountStatus', 'CommitmentDiscountType', 'CommitmentDiscountUnit', 'ConsumedQuantity', 'ConsumedUnit', 'ContractedCost', 'ContractedUnitPrice', 'EffectiveCost', 'InvoiceId', 'InvoiceIssuerName', 'ListCost', 'ListUnitPrice', 'PricingCategory', 'PricingCurrency', 'PricingCurrencyContractedUnitPrice', 'PricingCurrencyEffectiveCost', 'PricingCurrencyListUnitPrice', 'PricingQuantity', 'PricingUnit', 'ProviderName', 'PublisherName', 'RegionId', 'RegionName', 'ResourceId', 'ResourceName', 'ResourceType', 'ServiceCategory', 'ServiceName', 'ServiceSubcategory', 'SkuId', 'SkuMeter', 'SkuPriceDetails', 'SkuPriceId', 'SubAccountId', 'SubAccountName', 'SubAccountType', 'Tags']);

const DECIMALS = ['BilledCost', 'EffectiveCost', 'ListCost', 'ContractedCost', 'ListUnitPrice', 'ContractedUnitPrice', 'PricingQuantity', 'ConsumedQuantity', 'CommitmentDiscountQuantity', 'PricingCurrencyContractedUnitPrice', 'PricingCurrencyEffectiveCost', 'PricingCurrencyListUnitPrice'];
const COSTS = ['BilledCost', 'EffectiveCost', 'ListCost', 'ContractedCost'];
const DATES = ['BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart', 'ChargePeriodEnd'];
const NOT_NULL = ['BilledCost', 'BillingAccountId', 'BillingCurrency', 'BillingPeriodEnd', 'BillingPeriodStart', 'ChargeCategory', 'ChargeFrequency', 'ChargePeriodEnd', 'ChargePeriodStart', 'ContractedCost', 'EffectiveCost', 'InvoiceIssuerName', 'ListCost', 'ProviderName', 'PublisherName', 'ServiceCategory', 'ServiceName', 'ServiceSubcategory'];

export const ALLOWED = {
  ChargeCategory: ['Usage', 'Purchase', 'Tax', 'Credit', 'Adjustment'],
  ChargeClass: ['Correction'],
  ChargeFrequency: ['One-Time', 'Recurring', 'Usage-Based'],
  PricingCategory: ['Standard', 'Dynamic', 'Committed', 'Other'],
  ServiceCategory: ['AI and Machine Learning', 'Analytics', 'Business Applications', 'Compute', 'Databases', 'Developer Tools', 'Multicloud', 'Identity', 'Integration', 'Internet of Things', 'Management and Governance', 'Media', 'Migration', 'Mobile', 'Networking', 'Security', 'Storage', 'Web', 'Other'],
  CommitmentDiscountCategory: ['Spend', 'Usage'],
  CommitmentDiscountStatus: ['Used', 'Unused'],
  CapacityReservationStatus: ['Used', 'Unused'],
};
const AI_SUBCATEGORIES = ['AI Platforms', 'Bots', 'Generative AI', 'Machine Learning', 'Natural Language Processing', 'Other (AI and Machine Learning)'];

// RFC 4180: quoted fields may hold commas, quotes (doubled) and line ends.
export function parseCsv(text) {
  const rows = [];
  let row = [], field = '', i = 0, quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i++; continue; }
      field += c; i++; continue;
    }
    if (c === '"' && field === '') { quoted = true; i++; continue; }
    if (c === ',') { row.push(field); field = ''; i++; continue; }
    if (c === '\r' && text[i + 1] === '\n') { i++; continue; }
    if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; i++; continue; }
    field += c; i++;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

const NUMERIC = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?(E-?[0-9]+)?$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;
const UNIT = /^([1-9][0-9]* )?[A-Z][A-Za-z]*(-[A-Z][A-Za-z]*|\/[A-Z][A-Za-z]*)?$/;

// An exact decimal as [BigInt units, scale]; E-notation included.
function decimal(s) {
  const m = NUMERIC.exec(s);
  if (!m) return null;
  let [mant, exp] = s.split('E');
  const neg = mant.startsWith('-');
  if (neg) mant = mant.slice(1);
  const [ip, fp = ''] = mant.split('.');
  let v = BigInt(ip + fp), scale = fp.length - Number(exp ?? 0);
  if (scale < 0) { v *= 10n ** BigInt(-scale); scale = 0; }
  return [neg ? -v : v, scale];
}
const atScale = ([v, s], to) => (s <= to ? v * 10n ** BigInt(to - s) : null);
const mulEq = (a, b, c) => { // a x b == c, exactly
  const [av, as] = a, [bv, bs] = b, [cv, cs] = c;
  const ps = as + bs, p = av * bv, s = Math.max(ps, cs);
  return p * 10n ** BigInt(s - ps) === cv * 10n ** BigInt(s - cs);
};
export const toNanos = (s) => { const d = decimal(s); const n = d && atScale(d, 9); if (n === null) throw new Error(`'${s}' is not an exact nano-dollar amount`); return n; };

function dateMs(s) {
  const m = DATE.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number);
  const ms = Date.UTC(y, mo - 1, d, h, mi, se);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) return null;
  return ms;
}

export function validateFocus(text, { allowUnpriced = true } = {}) {
  const errors = [];
  const err = (line, msg) => { if (errors.length < 50) errors.push(line ? `line ${line}: ${msg}` : msg); };
  const table = parseCsv(text);
  if (table.length === 0) throw new Error('focus: empty file');
  const header = table[0];
  const seen = new Set();
  let custom = false;
  for (const c of header) {
    if (seen.has(c)) err(1, `column ${c} repeated`);
    seen.add(c);
    if (c.startsWith('x_')) { custom = true; continue; }
    if (!FOCUS_COLUMNS.has(c)) err(1, `column ${c} is neither a FOCUS 1.2 column nor prefixed x_`);
    if (custom) err(1, `FOCUS column ${c} after the custom columns`);
  }
  for (const c of MANDATORY) if (!seen.has(c)) err(1, `mandatory column ${c} missing`);
  const rows = [];
  let billedNanos = 0n, listAtto = 0n, unpricedRows = 0;
  table.slice(1).forEach((fields, idx) => {
    const line = idx + 2;
    if (fields.length !== header.length) { err(line, `${fields.length} fields, header has ${header.length}`); return; }
    const r = Object.fromEntries(header.map((h, i) => [h, fields[i]]));
    rows.push(r);
    const has = (c) => r[c] !== undefined && r[c] !== '';
    const unpriced = r.x_CostStatus === 'unpriced';
    if (unpriced) {
      unpricedRows++;
      if (!allowUnpriced) err(line, 'unpriced row (x_CostStatus=unpriced) not allowed');
      for (const c of COSTS) if (has(c)) err(line, `unpriced row has ${c}=${r[c]}: an unknown price must stay empty, never a number`);
    }
    for (const c of NOT_NULL) if (seen.has(c) && !has(c) && !(unpriced && COSTS.includes(c))) err(line, `${c} is null`);
    for (const c of DECIMALS) if (has(c) && !NUMERIC.test(r[c])) err(line, `${c}='${r[c]}' is not NumericFormat`);
    for (const c of DATES) if (has(c) && dateMs(r[c]) === null) err(line, `${c}='${r[c]}' is not YYYY-MM-DDTHH:mm:ssZ UTC`);
    for (const [c, values] of Object.entries(ALLOWED)) if (has(c) && !values.includes(r[c])) err(line, `${c}='${r[c]}' is not an allowed value`);
    if (has('ServiceSubcategory') && r.ServiceCategory === 'AI and Machine Learning' && !AI_SUBCATEGORIES.includes(r.ServiceSubcategory)) err(line, `ServiceSubcategory '${r.ServiceSubcategory}' is not under AI and Machine Learning`);
    if (has('BillingCurrency') && !/^[A-Z]{3}$/.test(r.BillingCurrency)) err(line, `BillingCurrency '${r.BillingCurrency}' is not ISO 4217`);
    for (const c of ['PricingUnit', 'ConsumedUnit']) if (has(c) && !UNIT.test(r[c])) err(line, `${c} '${r[c]}' is not UnitFormat`);
    if (has('PricingUnit') !== has('PricingQuantity')) err(line, 'PricingUnit must be null exactly when PricingQuantity is');
    if (has('ConsumedUnit') !== has('ConsumedQuantity')) err(line, 'ConsumedUnit must be null exactly when ConsumedQuantity is');
    if (r.ChargeCategory === 'Usage' && r.ChargeClass !== 'Correction') {
      for (const c of ['PricingQuantity', 'PricingCategory', 'SkuId', 'ConsumedQuantity']) if (seen.has(c) && !has(c)) err(line, `${c} is null on a Usage row`);
    }
    if (r.ChargeCategory === 'Purchase' && r.ChargeFrequency === 'Usage-Based') err(line, 'a Purchase cannot be Usage-Based');
    if (has('SkuPriceId') && !has('SkuId')) err(line, 'SkuPriceId without SkuId');
    if (has('ChargeClass') && r.ChargeClass !== 'Correction') err(line, 'ChargeClass must be null or Correction');
    // periods: start < end; the charge period inside the billing period
    const [cs, ce, bs, be] = ['ChargePeriodStart', 'ChargePeriodEnd', 'BillingPeriodStart', 'BillingPeriodEnd'].map((c) => dateMs(r[c] ?? ''));
    if (cs !== null && ce !== null && !(cs < ce)) err(line, 'ChargePeriodStart is not before ChargePeriodEnd');
    if (bs !== null && be !== null && !(bs < be)) err(line, 'BillingPeriodStart is not before BillingPeriodEnd');
    if (cs !== null && bs !== null && be !== null && !(bs <= cs && cs < be)) err(line, 'the charge period starts outside its billing period');
    // cost identities, exactly
    const d = (c) => (has(c) ? decimal(r[c]) : null);
    const q = d('PricingQuantity');
    for (const [price, cost] of [['ListUnitPrice', 'ListCost'], ['ContractedUnitPrice', 'ContractedCost']]) {
      const p = d(price), c = d(cost);
      if (p && q && c && !mulEq(p, q, c)) err(line, `${price} ${r[price]} x PricingQuantity ${r.PricingQuantity} != ${cost} ${r[cost]}`);
      if (p && p[0] < 0n) err(line, `${price} is negative`);
    }
    if (!unpriced && has('BilledCost')) {
      if (r.EffectiveCost !== r.BilledCost || r.ContractedCost !== r.BilledCost) err(line, `BilledCost ${r.BilledCost}, EffectiveCost ${r.EffectiveCost} and ContractedCost ${r.ContractedCost} differ (no commitments or amortization)`);
      try { billedNanos += toNanos(r.BilledCost); } catch (e) { err(line, e.message); }
      const l = d('ListCost'); // a list cost may be finer than a nano-dollar (unit price x quantity)
      if (l) { const a = atScale(l, 18); if (a === null) err(line, `ListCost ${r.ListCost} has more than 18 decimals`); else listAtto += a; }
    }
    // Tags: KeyValueFormat, a flat object of string values, unique keys
    if (has('Tags')) {
      let t;
      try { t = JSON.parse(r.Tags); } catch { err(line, `Tags is not JSON: ${r.Tags}`); }
      if (t !== undefined) {
        if (t === null || typeof t !== 'object' || Array.isArray(t)) err(line, 'Tags is not a JSON object');
        else {
          for (const [k, v] of Object.entries(t)) if (typeof v !== 'string') err(line, `Tags.${k} is not a string`);
          const keys = [...r.Tags.matchAll(/"((?:[^"\\]|\\.)*)"\s*:/g)].map((m) => m[1]);
          if (new Set(keys).size !== keys.length) err(line, 'Tags repeats a key');
        }
      }
    }
  });
  if (errors.length) throw new Error(`FOCUS validation failed:\n  ${errors.join('\n  ')}`);
  return { header, rows, billedNanos, listAtto, unpricedRows };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let status = 0;
  for (const f of process.argv.slice(2)) {
    try {
      const v = validateFocus(readFileSync(f, 'utf8'));
      console.log(`ok: ${f}: ${v.rows.length} rows, BilledCost ${v.billedNanos} nanos, ${v.unpricedRows} unpriced rows`);
    } catch (e) {
      console.error(`${f}: ${e.message}`);
      status = 1;
    }
  }
  process.exit(status);
}
