// Validates minFraud requests the gateway built with MaxMind's official
// Node.js client (@maxmind/minfraud-api-node), whose constructors check
// every field. Reads one JSON object per line on stdin:
//   {"name": ..., "request": <the gateway's minFraud request body>,
//    "email": <the order's plain address>}
// and prints one JSON line per case: {"name", "ok", "error"}. Run by
// screening's TestMinFraudRequestNodeClient with NODE_PATH set to the
// directory scripts/test.sh installs the client into.
'use strict';
const readline = require('readline');
const m = require('@maxmind/minfraud-api-node');

const camel = (o) => {
  const out = {};
  for (const [k, v] of Object.entries(o || {})) {
    out[k.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase())] = v;
  }
  return out;
};

function validate(c) {
  const r = c.request;
  const known = new Set(['device', 'event', 'account', 'email', 'billing', 'shipping', 'payment', 'credit_card', 'order', 'shopping_cart']);
  for (const k of Object.keys(r)) {
    if (!known.has(k)) throw new Error(`unknown top-level input ${k}`);
  }
  const t = {};
  const d = camel(r.device);
  t.device = new m.Device(d);
  if (r.event) {
    const e = camel(r.event);
    if (e.time) e.time = new Date(e.time);
    if (e.type && !Object.values(m.Constants.EventType).includes(e.type)) throw new Error(`event.type ${e.type} is not one of MaxMind's`);
    t.event = new m.Event(e);
  }
  if (r.account) t.account = new m.Account(camel(r.account));
  if (r.email) {
    if (!/^[0-9a-f]{32}$/.test(r.email.address)) throw new Error(`email.address ${r.email.address} is not an MD5`);
    // The client's own normalization and hash of the plain address must
    // give the address the gateway sent.
    const own = new m.Email({ address: c.email, hashAddress: true });
    if (own.address !== r.email.address) throw new Error(`email hash ${r.email.address}, the client hashes ${c.email} to ${own.address}`);
    t.email = new m.Email({ domain: r.email.domain });
  }
  if (r.billing) t.billing = new m.Billing(camel(r.billing));
  if (r.payment) {
    const p = camel(r.payment);
    if (p.processor && !Object.values(m.Constants.Processor).includes(p.processor)) throw new Error(`payment.processor ${p.processor} is not one of MaxMind's`);
    t.payment = new m.Payment(p);
  }
  if (r.credit_card) t.creditCard = new m.CreditCard(camel(r.credit_card));
  if (r.order) {
    const o = camel(r.order);
    if (o.amount !== undefined) {
      if (typeof o.amount !== 'number') throw new Error(`order.amount ${o.amount} is not a number`);
    }
    t.order = new m.Order(o);
  }
  if (r.shopping_cart) {
    t.shoppingCart = r.shopping_cart.map((i) => new m.ShoppingCartItem(camel(i)));
  }
  const tx = new m.Transaction(t);
  JSON.parse(tx.toString());
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line);
  let res = { name: c.name, ok: true };
  try {
    validate(c);
  } catch (err) {
    res = { name: c.name, ok: false, error: String(err && err.message || err) };
  }
  process.stdout.write(JSON.stringify(res) + '\n');
});
