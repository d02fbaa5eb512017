// The page's envelope code (bot/webform/static/seal.js) against the SAME vectors the Python tests
// check: tests/data/envelope_v1_vectors.json and tests/data/sealed_form_vectors.json (docs/envelope.md).
// Run: node --test tests/js/   (tests/js/test_node.py runs it under pytest when node is installed.)
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const ROOT = path.resolve(__dirname, "..", "..");
const STATIC = path.join(ROOT, "bot", "webform", "static");

// The vendored libsodium is a browser build: it finds its environment through these globals.
globalThis.self = globalThis;
globalThis.require = require;
globalThis.__dirname = __dirname;
globalThis.__filename = __filename;
for (const file of ["vendor/libsodium-sumo.js", "vendor/libsodium-wrappers-sumo.js", "seal.js"]) {
  vm.runInThisContext(fs.readFileSync(path.join(STATIC, file), "utf8"), { filename: file });
}
const W = globalThis.WaystationSeal;
const V1 = JSON.parse(fs.readFileSync(path.join(ROOT, "tests", "data", "envelope_v1_vectors.json"), "utf8"));
const SF = JSON.parse(fs.readFileSync(path.join(ROOT, "tests", "data", "sealed_form_vectors.json"), "utf8"));
const KINDS = { REQUEST: 1, NOTE: 2, FOLLOW_UP: 3, REPLY: 4, DELIVERY: 5 };
const hex = (h) => Uint8Array.from(Buffer.from(h, "hex"));
const toHex = (b) => Buffer.from(b).toString("hex");

let sodium;
test.before(async () => {
  await globalThis.sodium.ready;
  sodium = globalThis.sodium;
});

const seed = (label) => W.blake2b(sodium, 32, Uint8Array.from(Buffer.from(label)), "ws-test-vector");
const boxPair = (label) => ({ privateKey: seed(label), publicKey: sodium.crypto_scalarmult_base(seed(label)) });
const signKey = (label) => sodium.crypto_sign_seed_keypair(seed(label)).publicKey;

test("the page builds the vector body byte for byte", () => {
  const v = SF.body;
  const body = W.sealBody(sodium, hex(v.payload), KINDS[v.kind], v.case_id, v.queue,
    v.recipients.map((r) => boxPair(r).publicKey), signKey(SF.bot),
    { contentKey: hex(v.content_key), nonce: hex(v.nonce), sealedKeys: v.sealed_keys.map(hex) });
  assert.equal(toHex(body), v.body);
});

test("the countersigned vector envelope opens in the page for each recipient", () => {
  const v = SF.body;
  for (const r of v.recipients) {
    const payload = W.openEnvelope(sodium, hex(v.envelope), boxPair(r), [signKey(SF.bot)], v.case_id, v.queue,
      [KINDS.REQUEST]);
    assert.equal(toHex(payload), v.payload);
  }
});

test("a fresh body sealed in the page opens once signed", () => {
  const bot = sodium.crypto_sign_keypair();
  const person = sodium.crypto_box_keypair();
  const body = W.sealBody(sodium, Buffer.from('{"v":1}'), KINDS.REQUEST, "case-1", "main", [person.publicKey],
    bot.publicKey);
  const envelope = new Uint8Array([...body, ...sodium.crypto_sign_detached(body, bot.privateKey)]);
  const payload = W.openEnvelope(sodium, envelope, person, [bot.publicKey], "case-1", "main", [KINDS.REQUEST]);
  assert.equal(Buffer.from(payload).toString(), '{"v":1}');
});

test("key ids match the vector envelopes' slots", () => {
  const v = SF.body;
  const body = hex(v.body);
  const at = 6 + 32 + 1 + v.case_id.length + 1 + v.queue.length + 1;
  v.recipients.forEach((r, i) => {
    assert.equal(toHex(W.keyId(sodium, boxPair(r).publicKey)), toHex(body.subarray(at + i * 88, at + i * 88 + 8)));
  });
});

for (const v of V1.vectors) {
  test(`v1 vector: ${v.description}`, () => {
    let pair;
    if (v.reply_reference) {
      pair = W.deriveReplyKey(sodium, W.normaliseReference(v.reply_reference), v.reply_case_id || v.case_id);
    } else {
      pair = boxPair(v.recipient);
    }
    const open = () => W.openEnvelope(sodium, hex(v.envelope), pair, [signKey(V1.signer)], v.case_id, v.queue,
      [KINDS[v.kind]]);
    if (v.error) {
      assert.throws(open, W.EnvelopeRejected);
    } else {
      assert.equal(toHex(open()), v.payload);
    }
  });
}

for (const k of V1.reply_keys) {
  test(`reply key at the ${k.cost} cost`, () => {
    assert.equal(toHex(W.replySalt(sodium, k.case_id)), k.salt);
    const pair = W.deriveReplyKey(sodium, W.normaliseReference(k.reference), k.case_id,
      { opslimit: k.opslimit, memlimit: k.memlimit });
    assert.equal(toHex(pair.privateKey), k.secret);
    assert.equal(toHex(pair.publicKey), k.public);
  });
}

test("padding: buckets, and malformed padding refused", () => {
  assert.equal(W.pad(new Uint8Array(508)).length, 512);
  assert.equal(W.pad(new Uint8Array(509)).length, 1024);
  assert.throws(() => W.pad(new Uint8Array(65533)), W.EnvelopeRejected);
  const padded = W.pad(Uint8Array.of(1, 2, 3));
  assert.deepEqual(Array.from(W.unpad(padded)), [1, 2, 3]);
  padded[100] = 1;
  assert.throws(() => W.unpad(padded), W.EnvelopeRejected);
  assert.throws(() => W.unpad(new Uint8Array(100)), W.EnvelopeRejected);
});

test("labels outside their alphabets are refused when sealing", () => {
  const bot = sodium.crypto_sign_keypair();
  const person = sodium.crypto_box_keypair();
  assert.throws(() => W.sealBody(sodium, Uint8Array.of(1), 1, "Case", "main", [person.publicKey], bot.publicKey),
    W.EnvelopeRejected);
  assert.throws(() => W.sealBody(sodium, Uint8Array.of(1), 1, "case", "ma in", [person.publicKey], bot.publicKey),
    W.EnvelopeRejected);
  assert.throws(() => W.sealBody(sodium, Uint8Array.of(1), 1, "case", "main", [], bot.publicKey), W.EnvelopeRejected);
});

test("references: 16 digits with any punctuation", () => {
  assert.equal(W.normaliseReference("4242 123 456 789 012"), "4242123456789012");
  assert.equal(W.normaliseReference("+4242-123-456-789-012"), "4242123456789012");
  assert.equal(W.normaliseReference("4242 123"), null);
});
