/* Waystation envelope v1 in the browser: what the sealed form's page seals and opens.
 *
 * The byte layout is docs/envelope.md ("Envelope format, version 1" and "The sealed form"); the
 * reference implementation is crypto/envelope.py. The page builds an envelope *body* (everything
 * but the signature) naming the bot as signer; the bot checks its shape and signs it. Every
 * primitive comes from libsodium (the vendored libsodium-wrappers-sumo build); nothing here
 * is home-made cryptography, only the byte layout around it.
 *
 * No I/O, no storage, no globals but the one API object. Loaded as a classic script (the page)
 * and by node (tests/js/envelope_vectors.test.js).
 */
(function (root) {
  "use strict";

  var MAGIC = [0x57, 0x53, 0x45, 0x56]; // "WSEV"
  var VERSION = 1;
  var KIND = { REQUEST: 1, NOTE: 2, FOLLOW_UP: 3, REPLY: 4, DELIVERY: 5 };
  var BUCKETS = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
  var KEY_ID_SIZE = 8;
  var SEALED_KEY_SIZE = 80;
  var NONCE_SIZE = 24;
  var SIGNATURE_SIZE = 64;
  var MAX_RECIPIENTS = 64;
  var CASE_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
  var QUEUE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
  // The reply key's Argon2id cost is part of the format (docs/envelope.md, "Reply keys").
  var REPLY_KEY_COST = { opslimit: 2, memlimit: 67108864 };

  function EnvelopeRejected(message) {
    this.name = "EnvelopeRejected";
    this.message = message;
  }
  EnvelopeRejected.prototype = Object.create(Error.prototype);

  function ascii(text) {
    var out = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) {
      var c = text.charCodeAt(i);
      if (c > 127) throw new EnvelopeRejected("label is not ASCII");
      out[i] = c;
    }
    return out;
  }

  function concat(parts) {
    var size = 0, i;
    for (i = 0; i < parts.length; i++) size += parts[i].length;
    var out = new Uint8Array(size), at = 0;
    for (i = 0; i < parts.length; i++) { out.set(parts[i], at); at += parts[i].length; }
    return out;
  }

  function blake2b(sodium, size, message, person) {
    // BLAKE2b with a personalisation (zero-padded to 16 bytes), no key and no salt, as PyNaCl's
    // blake2b. The wrappers' crypto_generichash_blake2b_salt_personal hashes no message (it is a
    // key derivation), so this calls libsodium's own function in the raw module the wrappers use.
    var raw = root.libsodium;
    if (!raw || typeof raw._crypto_generichash_blake2b_salt_personal !== "function") {
      throw new EnvelopeRejected("libsodium is not loaded");
    }
    var personal = new Uint8Array(16);
    personal.set(ascii(person));
    var out = raw._malloc(size), input = raw._malloc(message.length + 1), salt = raw._malloc(16),
        pers = raw._malloc(16);
    try {
      raw.HEAPU8.set(message, input);
      raw.HEAPU8.fill(0, salt, salt + 16);
      raw.HEAPU8.set(personal, pers);
      // (out, outlen, in, inlen as two 32-bit halves, key, keylen, salt, personal)
      if (raw._crypto_generichash_blake2b_salt_personal(out, size, input, message.length, 0, 0, 0, salt, pers) !== 0) {
        throw new EnvelopeRejected("BLAKE2b failed");
      }
      return raw.HEAPU8.slice(out, out + size);
    } finally {
      raw._free(out); raw._free(input); raw._free(salt); raw._free(pers);
    }
  }

  /** The 8-byte key id of an X25519 public key: BLAKE2b-64, personalisation "waystation-kid". */
  function keyId(sodium, boxKey) {
    return blake2b(sodium, KEY_ID_SIZE, boxKey, "waystation-kid");
  }

  /** 4-byte big-endian length, the payload, zeros to the smallest bucket that holds it. */
  function pad(payload) {
    var needed = payload.length + 4;
    for (var i = 0; i < BUCKETS.length; i++) {
      if (needed <= BUCKETS[i]) {
        var out = new Uint8Array(BUCKETS[i]);
        new DataView(out.buffer).setUint32(0, payload.length, false);
        out.set(payload, 4);
        return out;
      }
    }
    throw new EnvelopeRejected("payload is too large");
  }

  function unpad(padded) {
    if (BUCKETS.indexOf(padded.length) < 0) throw new EnvelopeRejected("padded payload is not a bucket size");
    var length = new DataView(padded.buffer, padded.byteOffset, padded.length).getUint32(0, false);
    if (4 + length > padded.length) throw new EnvelopeRejected("payload padding is malformed");
    for (var i = 4 + length; i < padded.length; i++) {
      if (padded[i] !== 0) throw new EnvelopeRejected("payload padding is malformed");
    }
    return padded.slice(4, 4 + length);
  }

  function label(text, pattern, what) {
    if (!pattern.test(text)) throw new EnvelopeRejected(what + " has characters outside its alphabet");
    var raw = ascii(text);
    return concat([Uint8Array.of(raw.length), raw]);
  }

  /**
   * The envelope without its signature: header (naming `signer` as the signer), nonce, length,
   * AEAD ciphertext of the padded payload with the header as associated data.
   * `recipients`: X25519 public keys (Uint8Array); duplicates are sealed once.
   * `fixed` (tests only): {contentKey, nonce, sealedKeys} instead of fresh randomness.
   */
  function sealBody(sodium, payload, kind, caseId, queue, recipients, signer, fixed) {
    var unique = [], seen = {}, i;
    for (i = 0; i < recipients.length; i++) {
      var hex = sodium.to_hex(recipients[i]);
      if (recipients[i].length !== 32) throw new EnvelopeRejected("a recipient key has the wrong size");
      if (!seen[hex]) { seen[hex] = true; unique.push(recipients[i]); }
    }
    if (unique.length < 1 || unique.length > MAX_RECIPIENTS) throw new EnvelopeRejected("1..64 recipients");
    if (signer.length !== 32) throw new EnvelopeRejected("the signer key has the wrong size");
    var contentKey = fixed ? fixed.contentKey : sodium.crypto_aead_xchacha20poly1305_ietf_keygen();
    var parts = [Uint8Array.from(MAGIC), Uint8Array.of(VERSION, kind), signer,
                 label(caseId, CASE_ID, "case id"), label(queue, QUEUE, "queue"), Uint8Array.of(unique.length)];
    for (i = 0; i < unique.length; i++) {
      parts.push(keyId(sodium, unique[i]));
      parts.push(fixed ? fixed.sealedKeys[i] : sodium.crypto_box_seal(contentKey, unique[i]));
    }
    var header = concat(parts);
    var nonce = fixed ? fixed.nonce : sodium.randombytes_buf(NONCE_SIZE);
    var ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(pad(payload), header, null, nonce, contentKey);
    var length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, ciphertext.length, false);
    if (!fixed) sodium.memzero(contentKey);
    return concat([header, nonce, length, ciphertext]);
  }

  function parse(envelope) {
    var size = envelope.length, end = size - SIGNATURE_SIZE;
    if (size < 102) throw new EnvelopeRejected("envelope is too short");
    for (var m = 0; m < 4; m++) if (envelope[m] !== MAGIC[m]) throw new EnvelopeRejected("not a Waystation envelope");
    if (envelope[4] !== VERSION) throw new EnvelopeRejected("envelope version is not supported");
    var pos = 38, labels = [];
    for (var l = 0; l < 2; l++) {
      if (pos >= end) throw new EnvelopeRejected("envelope is truncated");
      var stop = pos + 1 + envelope[pos];
      if (stop > end) throw new EnvelopeRejected("envelope is truncated");
      var text = String.fromCharCode.apply(null, envelope.subarray(pos + 1, stop));
      if (!(l === 0 ? CASE_ID : QUEUE).test(text)) throw new EnvelopeRejected("label outside its alphabet");
      labels.push(text);
      pos = stop;
    }
    if (pos >= end) throw new EnvelopeRejected("envelope is truncated");
    var count = envelope[pos++];
    if (count < 1 || count > MAX_RECIPIENTS) throw new EnvelopeRejected("recipient count out of range");
    var slots = pos, headerEnd = pos + count * (KEY_ID_SIZE + SEALED_KEY_SIZE);
    if (headerEnd + NONCE_SIZE + 4 > end) throw new EnvelopeRejected("envelope is truncated");
    var ids = {};
    for (var s = 0; s < count; s++) {
      var at = slots + s * (KEY_ID_SIZE + SEALED_KEY_SIZE);
      var id = Array.prototype.join.call(envelope.subarray(at, at + KEY_ID_SIZE), ",");
      if (ids[id] !== undefined) throw new EnvelopeRejected("duplicate recipient slot");
      ids[id] = at;
    }
    var nonceEnd = headerEnd + NONCE_SIZE;
    var length = new DataView(envelope.buffer, envelope.byteOffset + nonceEnd, 4).getUint32(0, false);
    if (nonceEnd + 4 + length !== end) throw new EnvelopeRejected("ciphertext length does not match");
    return { kind: envelope[5], caseId: labels[0], queue: labels[1], slots: ids, headerEnd: headerEnd, end: end };
  }

  /**
   * Open an envelope for one X25519 key pair, with the checks of docs/envelope.md in order:
   * magic, version, trusted signer, signature, structure, binding (kind, case id, queue),
   * recipient slot, AEAD, padding. Returns the payload bytes; throws EnvelopeRejected.
   */
  function openEnvelope(sodium, envelope, keyPair, trustedSigners, caseId, queue, kinds) {
    if (envelope.length < 102) throw new EnvelopeRejected("envelope is too short");
    for (var m = 0; m < 4; m++) if (envelope[m] !== MAGIC[m]) throw new EnvelopeRejected("not a Waystation envelope");
    if (envelope[4] !== VERSION) throw new EnvelopeRejected("envelope version is not supported");
    var signer = envelope.subarray(6, 38), trusted = false;
    for (var t = 0; t < trustedSigners.length; t++) {
      if (sodium.memcmp(Uint8Array.from(trustedSigners[t]), Uint8Array.from(signer))) { trusted = true; break; }
    }
    if (!trusted) throw new EnvelopeRejected("envelope is signed by an unknown key");
    var end = envelope.length - SIGNATURE_SIZE;
    if (!sodium.crypto_sign_verify_detached(envelope.subarray(end), envelope.subarray(0, end), signer)) {
      throw new EnvelopeRejected("envelope signature does not verify");
    }
    var parsed = parse(envelope);
    if (kinds.indexOf(parsed.kind) < 0) throw new EnvelopeRejected("envelope is not of the expected kind");
    if (parsed.caseId !== caseId) throw new EnvelopeRejected("envelope belongs to another case");
    if (parsed.queue !== queue) throw new EnvelopeRejected("envelope belongs to another queue");
    var mine = Array.prototype.join.call(keyId(sodium, keyPair.publicKey), ",");
    var at = parsed.slots[mine];
    if (at === undefined) throw new EnvelopeRejected("this envelope was not encrypted to this key");
    var contentKey;
    try {
      contentKey = sodium.crypto_box_seal_open(envelope.subarray(at + KEY_ID_SIZE, at + KEY_ID_SIZE + SEALED_KEY_SIZE),
                                               keyPair.publicKey, keyPair.privateKey);
    } catch (err) {
      throw new EnvelopeRejected("envelope does not decrypt with this key");
    }
    var padded;
    try {
      padded = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        null, envelope.subarray(parsed.headerEnd + NONCE_SIZE + 4, end), envelope.subarray(0, parsed.headerEnd),
        envelope.subarray(parsed.headerEnd, parsed.headerEnd + NONCE_SIZE), contentKey);
    } catch (err) {
      throw new EnvelopeRejected("envelope does not decrypt with this key");
    } finally {
      sodium.memzero(contentKey);
    }
    return unpad(padded);
  }

  /** The 16 digits of a reference typed with any spacing or punctuation, or null. */
  function normaliseReference(text) {
    if (typeof text !== "string" || text.length > 64) return null;
    var digits = text.replace(/[^0-9]/g, "");
    return digits.length === 16 ? digits : null;
  }

  /** BLAKE2b-128 of the case id, personalisation "ws-reply-salt": the reply key's Argon2id salt. */
  function replySalt(sodium, caseId) {
    return blake2b(sodium, 16, ascii(caseId), "ws-reply-salt");
  }

  /** The person's reply key pair: Argon2id(16 digits, replySalt(case id)) as an X25519 secret. */
  function deriveReplyKey(sodium, digits, caseId, cost) {
    cost = cost || REPLY_KEY_COST;
    var secret = sodium.crypto_pwhash(32, ascii(digits), replySalt(sodium, caseId), cost.opslimit, cost.memlimit,
                                      sodium.crypto_pwhash_ALG_ARGON2ID13);
    return { publicKey: sodium.crypto_scalarmult_base(secret), privateKey: secret };
  }

  root.WaystationSeal = {
    KIND: KIND,
    BUCKETS: BUCKETS,
    REPLY_KEY_COST: REPLY_KEY_COST,
    EnvelopeRejected: EnvelopeRejected,
    keyId: keyId,
    blake2b: blake2b,
    pad: pad,
    unpad: unpad,
    sealBody: sealBody,
    openEnvelope: openEnvelope,
    normaliseReference: normaliseReference,
    replySalt: replySalt,
    deriveReplyKey: deriveReplyKey
  };
})(typeof self !== "undefined" ? self : globalThis);
