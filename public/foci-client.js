// A small browser client for Foci's signaling protocol (docs/protocol.md).
// Used by the demo page and the end-to-end tests; a reference for clients.
//
//   const foci = await FociClient.connect('http://127.0.0.1:8080');
//   await foci.publish({ callId, deviceId, purpose: 'm.usermedia', stream });
//   const { stream } = await foci.subscribe({ callId, deviceId, purpose: 'm.usermedia' });
//
// One RTCPeerConnection carries the signaling channel and all media. The
// server is the polite peer: a server offer that arrives while our own offer
// awaits its reply crossed it, and the server withdraws it and offers again
// later, so the client ignores it. A server offer the client cannot apply is
// refused with an `error` on its event and id.

const REQUEST_TIMEOUT_MS = 20000;

class Lock {
  #tail = Promise.resolve();
  run(task) {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

export class FociError extends Error {
  constructor(code, message, event) {
    super(`${code}: ${message}`);
    this.code = code;
    this.event = event;
  }
}

export class FociClient extends EventTarget {
  #pc;
  #channel;
  #pending = new Map();
  #negotiation = new Lock();
  /** Our offer being made or awaiting its reply: { id, replied }. */
  #offerOut = null;
  /** Offers we have sent: a server offer received before one of them and not yet applied was withdrawn. */
  #offersSent = 0;
  #nextId = 1;
  #closed = false;

  constructor(pc) {
    super();
    this.#pc = pc;
  }

  get pc() {
    return this.#pc;
  }

  /**
   * Opens a session: POST /createSession with a datachannel-only offer, then
   * waits for the server's `signaling` channel and its priming offer.
   * `openSignaling: true` opens the channel from the client instead.
   */
  static async connect(baseUrl, { openSignaling = false, json = true } = {}) {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    const client = new FociClient(pc);
    const own = pc.createDataChannel(openSignaling ? 'signaling' : 'bootstrap');
    const channel = openSignaling
      ? new Promise((resolve) => own.addEventListener('open', () => resolve(own), { once: true }))
      : new Promise((resolve) =>
          pc.addEventListener('datachannel', (e) => {
            if (e.channel.label === 'signaling') e.channel.addEventListener('open', () => resolve(e.channel), { once: true });
          }),
        );
    const primed = new Promise((resolve) => client.addEventListener('negotiated', resolve, { once: true }));
    await pc.setLocalDescription(await pc.createOffer());
    const response = await fetch(new URL('/createSession', baseUrl), {
      method: 'POST',
      headers: { 'Content-Type': json ? 'application/json' : 'application/sdp' },
      body: json ? JSON.stringify({ type: 'offer', sdp: pc.localDescription.sdp }) : pc.localDescription.sdp,
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      pc.close();
      throw new FociError(body.error?.code ?? 'http_' + response.status, body.error?.message ?? response.statusText, 'createSession');
    }
    const answer = json ? await response.json() : { type: 'answer', sdp: await response.text() };
    await pc.setRemoteDescription(answer);
    client.#channel = await withTimeout(channel, REQUEST_TIMEOUT_MS, 'signaling channel did not open');
    client.#channel.addEventListener('message', (e) => client.#onMessage(e.data));
    client.#channel.addEventListener('close', () => client.#onClosed('channel_closed'));
    // A page that goes away says goodbye (DTLS close): its streams end for others at
    // once. The server does not depend on it: a killed tab is noticed in seconds anyway.
    globalThis.addEventListener?.('pagehide', () => client.close(), { once: true });
    await withTimeout(primed, REQUEST_TIMEOUT_MS, 'no priming offer from the server');
    return client;
  }

  /** Sends a raw message (tests use it for bad input). */
  sendRaw(text) {
    this.#channel.send(text);
  }

  /** Sends a request and resolves with its reply (rejects with FociError on an error reply). */
  request(message) {
    const id = message.id ?? `c${this.#nextId++}`;
    const full = { ...message, id };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new FociError('timeout', `no reply to ${message.event} ${id}`, message.event));
      }, REQUEST_TIMEOUT_MS);
      this.#pending.set(id, { resolve, reject, timer });
      this.#channel.send(JSON.stringify(full));
    });
  }

  #settle(id, settle) {
    const pending = this.#pending.get(id);
    if (!pending) return false;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    settle(pending);
    return true;
  }

  #onMessage(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    this.dispatchEvent(new CustomEvent('message', { detail: message }));
    if (message.error) {
      const error = new FociError(message.error.code, message.error.message, message.event);
      if (!this.#settle(message.id, (p) => p.reject(error))) this.dispatchEvent(new CustomEvent('servererror', { detail: message }));
      return;
    }
    if (this.#offerOut && message.id === this.#offerOut.id) this.#offerOut.replied = true;
    const isServerOffer = typeof message.sdp === 'string' && (message.event === 'subscribe' || message.event === 'negotiate') && !this.#isReplyToOwnOffer(message);
    if (isServerOffer) {
      // The channel is ordered: a server offer that arrives before the reply to
      // our own offer crossed it. The server withdraws it and offers again.
      if (this.#offerOut && !this.#offerOut.replied) return;
      const sentBefore = this.#offersSent;
      this.#negotiation.run(() => {
        // Our own offer went out while this one waited: it crossed, so it was withdrawn too.
        if (this.#offersSent !== sentBefore) return undefined;
        return this.#answerServerOffer(message).catch((error) => {
          this.#settle(message.id, (p) => p.reject(error));
          this.dispatchEvent(new CustomEvent('negotiationerror', { detail: error }));
        });
      });
      return;
    }
    if (message.event === 'stream_ended') this.dispatchEvent(new CustomEvent('streamended', { detail: message }));
    else if (message.event === 'session_ended') this.#onClosed(message.reason);
    else this.#settle(message.id, (p) => p.resolve(message));
  }

  /** A subscribe request made with our own offer gets the server's answer as its reply. */
  #isReplyToOwnOffer(message) {
    return this.#offerOut !== null && message.id === this.#offerOut.id;
  }

  async #answerServerOffer(message) {
    try {
      await this.#pc.setRemoteDescription({ type: 'offer', sdp: message.sdp });
    } catch (error) {
      // Not applied: say so, and the server goes back to what we have.
      this.#channel.send(JSON.stringify({ event: message.event, id: message.id, error: { code: 'offer_rejected', message: String(error.message ?? error) } }));
      throw error;
    }
    await this.#pc.setLocalDescription(await this.#pc.createAnswer());
    this.#channel.send(JSON.stringify({ event: message.event, id: message.id, sdp: this.#pc.localDescription.sdp }));
    if (message.event === 'subscribe') {
      const tracks = this.#pc
        .getTransceivers()
        .filter((t) => message.mids.includes(t.mid))
        .map((t) => t.receiver.track);
      const stream = new MediaStream(tracks);
      this.#settle(message.id, (p) => p.resolve({ streamId: message.stream_id, mids: message.mids, stream, tracks }));
    } else {
      this.dispatchEvent(new CustomEvent('negotiated', { detail: message }));
    }
  }

  /** Our offer → publish → the server's answer; on an error the offer is rolled back and the added tracks stopped. */
  async #offer(key, addTracks) {
    return this.#negotiation.run(async () => {
      // From here until the reply, server offers crossed ours and are ignored.
      const out = (this.#offerOut = { id: `c${this.#nextId++}`, replied: false });
      let added = [];
      try {
        added = addTracks();
        await this.#pc.setLocalDescription(await this.#pc.createOffer());
        this.#offersSent++;
        const reply = await this.request({ id: out.id, event: 'publish', ...key, sdp: this.#pc.localDescription.sdp });
        await this.#pc.setRemoteDescription({ type: 'answer', sdp: reply.sdp });
        return added;
      } catch (error) {
        if (this.#pc.signalingState === 'have-local-offer') await this.#pc.setLocalDescription({ type: 'rollback' });
        for (const t of added) t.stop();
        throw error;
      } finally {
        this.#offerOut = null;
      }
    });
  }

  /**
   * Publishes the stream's tracks as (callId, deviceId, purpose). `simulcast`
   * sends video as three layers (rids q, h, f; quarter, half, full).
   * `stop` lists transceivers to stop in the same offer: to swap a camera,
   * stop the old one's transceiver and publish the new track under the same key.
   */
  async publish({ callId, deviceId, purpose, stream, simulcast = false, codec, stop = [] }) {
    const key = { call_id: callId, device_id: deviceId, purpose };
    const transceivers = await this.#offer(key, () => {
      for (const t of stop) t.stop();
      return stream.getTracks().map((track) => {
        const init = { direction: 'sendonly', streams: [stream] };
        if (simulcast && track.kind === 'video') {
          init.sendEncodings = [
            { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 },
            { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
            { rid: 'f', maxBitrate: 1500000 },
          ];
        }
        const transceiver = this.#pc.addTransceiver(track, init);
        if (codec && track.kind === 'video') {
          const codecs = RTCRtpSender.getCapabilities('video').codecs;
          const wanted = codecs.filter((c) => c.mimeType.toLowerCase() === `video/${codec}`.toLowerCase());
          const rtx = codecs.filter((c) => c.mimeType.toLowerCase() === 'video/rtx');
          transceiver.setCodecPreferences([...wanted, ...rtx]);
        }
        return transceiver;
      });
    });
    return { transceivers };
  }

  /** Subscribes; resolves with the stream once the server's offer is answered. */
  subscribe({ callId, deviceId, purpose }) {
    return this.request({ event: 'subscribe', call_id: callId, device_id: deviceId, purpose });
  }

  unpublish({ callId, deviceId, purpose }) {
    return this.request({ event: 'unpublish', call_id: callId, device_id: deviceId, purpose });
  }

  unsubscribe({ callId, deviceId, purpose }) {
    return this.request({ event: 'unsubscribe', call_id: callId, device_id: deviceId, purpose });
  }

  #onClosed(reason) {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#pending.keys()]) this.#settle(id, (p) => p.reject(new FociError('session_closed', reason)));
    this.dispatchEvent(new CustomEvent('closed', { detail: { reason } }));
  }

  close() {
    this.#onClosed('client_closed');
    this.#pc.close();
  }
}

function withTimeout(promise, ms, message) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new FociError('timeout', message)), ms))]);
}
