/*
 * The shared, kernel-free mode of BIF's app front end: a stand-in for the kernel connection of
 * @jupyterlab/services that the widget manager runs on when no kernel belongs to the page.
 *
 * Why: one kernel per viewer does not scale. Every planner who opens an app starts with the same
 * default view, so the server executes the app once, renders that view (HTML and the full widget
 * state) and serves the same page to everyone. Only when a planner changes a widget is there
 * something to compute: the page sends the change (a "step") to the server, which computes the
 * answer in a fork of the one executed copy of the app, replayed to this page's earlier steps,
 * and returns the comm messages the app's kernel would have sent. This module applies them as if
 * they had come from a kernel, so the widget manager and the widget classes work unchanged.
 *
 * What the widget manager gets from here (see KernelWidgetManager, ManagerBase._loadFromKernel
 * and shims.services.Comm of @jupyter-widgets):
 *   - the widget states come from the snapshot in the page: the control comm's "request_states"
 *     is answered locally, without a server call;
 *   - a model's comm messages are sent to the server one at a time, in order, each with the
 *     history of the earlier answered steps (the server keeps no state per page);
 *   - messages of models the app does not react to (viewOnly: the map's bounds, say) are not
 *     sent at all.
 * The page tells what went wrong through the `ui` callbacks (see index.js).
 */
import { PROTOCOL_VERSION } from '@jupyter-widgets/base';
import { UUID } from '@lumino/coreutils';
import { Signal } from '@lumino/signaling';

export const SNAPSHOT_SELECTOR = 'script[type="application/vnd.bif.widget-snapshot+json"]#bif-widget-snapshot';

const CONTROL_TARGET = 'jupyter.widget.control';
const WIDGET_TARGET = 'jupyter.widget';
const MAX_RETRIES = 5; // 429/503/network errors: the same request again, then the page is lost
const DEFAULT_RETRY_S = 1;
const MAX_RETRY_S = 30;
const BUSY_AFTER_MS = 1000; // a step in flight longer than this shows the busy hint
const PYTHON_INFO = {
  status: 'ok',
  protocol_version: '5.3',
  implementation: 'bif-shared',
  implementation_version: '1.0',
  language_info: { name: 'python', mimetype: 'text/x-python', file_extension: '.py', version: '3' },
  banner: '',
  help_links: []
};
const PYTHON_SPEC = { name: 'python3', display_name: 'Python 3', language: 'python', argv: [], env: {}, resources: {} };

/** Reads the shared-mode page config: the option is a JSON string (or an object already). */
export function parseSharedConfig(option) {
  if (!option) {
    return null;
  }
  const config = typeof option === 'string' ? JSON.parse(option) : option;
  if (!config || !config.snapshot || !config.interactUrl) {
    throw new Error('Die Seite ist unvollständig (bifShared ohne snapshot oder interactUrl).');
  }
  return config;
}

/** Reads the widget snapshot the server rendered into the page. */
export function readSnapshot(doc = document) {
  const script = doc.querySelector(SNAPSHOT_SELECTOR);
  if (!script) {
    throw new Error('Die Seite enthält keinen Zustand der Widgets.');
  }
  const snapshot = JSON.parse(script.textContent);
  if (!snapshot || !snapshot.data || snapshot.data.method !== 'update_states' || !snapshot.data.states) {
    throw new Error('Der Zustand der Widgets in der Seite ist unvollständig.');
  }
  snapshot.data.buffer_paths = snapshot.data.buffer_paths || [];
  snapshot.buffers = snapshot.buffers || [];
  return snapshot;
}

export function decodeBuffer(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return new DataView(bytes.buffer);
}

export function encodeBuffer(buffer) {
  let bytes;
  if (buffer instanceof ArrayBuffer) {
    bytes = new Uint8Array(buffer);
  } else if (ArrayBuffer.isView(buffer)) {
    bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } else {
    throw new Error('Unbekannter Puffer in einer Widget-Nachricht');
  }
  let binary = '';
  const CHUNK = 0x8000; // String.fromCharCode takes only so many arguments
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary);
}

function header(msgType, kernel) {
  return {
    msg_id: UUID.uuid4(),
    msg_type: msgType,
    username: kernel.username,
    session: kernel.clientId,
    date: new Date().toISOString(),
    version: '5.3'
  };
}

function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}

function retryAfterMs(response) {
  const value = response && response.headers && response.headers.get('Retry-After');
  let seconds = DEFAULT_RETRY_S;
  if (value) {
    const number = Number(value);
    if (Number.isFinite(number)) {
      seconds = number;
    } else {
      const date = Date.parse(value);
      if (!Number.isNaN(date)) {
        seconds = (date - Date.now()) / 1000;
      }
    }
  }
  return Math.min(Math.max(seconds, 0), MAX_RETRY_S) * 1000;
}

async function readRefusal(response) {
  // the server's JSON answer to a request it did not compute: {reason, text?}
  let detail = '';
  try {
    detail = (await response.text()).slice(0, 1000);
    const body = JSON.parse(detail);
    if (body && typeof body === 'object') {
      return { reason: body.reason, text: typeof body.text === 'string' ? body.text : undefined, detail };
    }
  } catch (error) {
    // not JSON (a proxy's error page): the status says enough
  }
  return { reason: undefined, text: undefined, detail };
}

class StopError extends Error {} // the page is reloaded: nothing more is sent

/**
 * What open(), send() and close() of a comm return: a stand-in for @jupyterlab/services'
 * kernel future. shims.services.Comm sets onReply/onIOPub/onStdin after the call returns, so
 * a future is always finished asynchronously.
 */
class Future {
  constructor(kernel, msgType, content, metadata) {
    this.msg = { header: header(msgType, kernel), parent_header: {}, channel: 'shell', metadata: metadata || {}, content, buffers: [] };
    this.onReply = null;
    this.onIOPub = null;
    this.onStdin = null;
    this.isDisposed = false;
    this._finished = false;
    this.done = new Promise(resolve => {
      this._resolve = resolve;
    });
  }

  /** The kernel is idle again after this message: the model's throttle lets the next one go. */
  finish(status = 'ok') {
    if (this._finished) {
      return;
    }
    this._finished = true;
    const msgId = this.msg.header.msg_id;
    const parent = { msg_id: msgId, msg_type: this.msg.header.msg_type };
    const idle = {
      header: { msg_id: UUID.uuid4(), msg_type: 'status' },
      parent_header: parent,
      channel: 'iopub',
      metadata: {},
      content: { execution_state: 'idle' }
    };
    const reply = {
      header: { msg_id: UUID.uuid4(), msg_type: `${this.msg.header.msg_type}_reply` },
      parent_header: parent,
      channel: 'shell',
      metadata: {},
      content: { status }
    };
    for (const [callback, msg] of [
      [this.onIOPub, idle],
      [this.onReply, reply]
    ]) {
      try {
        if (callback) {
          callback(msg);
        }
      } catch (error) {
        console.error(error);
      }
    }
    this._resolve(reply);
  }

  /** Finishes the future after the caller has hooked up its callbacks. */
  finishSoon() {
    Promise.resolve().then(() => this.finish());
  }

  registerMessageHook() {}

  removeMessageHook() {}

  sendInputReply() {}

  dispose() {
    this.isDisposed = true;
  }
}

/** A comm of the shared kernel: its messages go to SharedKernel, which decides what to do. */
class SharedComm {
  constructor(kernel, targetName, commId) {
    this._kernel = kernel;
    this.targetName = targetName;
    this.commId = commId;
    this.onMsg = null;
    this.onClose = null;
    this.isDisposed = false;
  }

  open(data, metadata, buffers) {
    return this._kernel._commOpen(this, data, metadata, buffers);
  }

  send(data, metadata, buffers) {
    return this._kernel._commSend(this, data, metadata, buffers);
  }

  close(data, metadata, buffers) {
    const future = this._kernel._commClose(this, data, metadata, buffers);
    if (this.onClose) {
      // as @jupyterlab/services: the comm's own close handler runs at once
      const msg = {
        header: header('comm_close', this._kernel),
        parent_header: {},
        channel: 'iopub',
        metadata: metadata || {},
        content: { comm_id: this.commId, data: data || {} },
        buffers: []
      };
      try {
        void this.onClose(msg);
      } catch (error) {
        console.error(error);
      }
    }
    this.dispose();
    return future;
  }

  dispose() {
    if (this.isDisposed) {
      return;
    }
    this.isDisposed = true;
    this._kernel._forgetComm(this.commId, this);
  }
}

/**
 * A stand-in for @jupyterlab/services' KernelConnection, with only what the widget manager and
 * the widget models use.
 *
 * config: the page's bifShared option ({snapshot, interactUrl, flushAfterMs, viewOnly});
 * snapshot: the page's widget snapshot ({data: update_states message, buffers: [base64]});
 * ui: {reconnecting(), reconnected(), lost(reason), outdated(text?), failed(error), busy(bool)};
 * text and error.text: the server's own German explanation, when it gave one.
 */
export class SharedKernel {
  constructor(config, snapshot, ui = {}) {
    this._config = config;
    this._snapshot = snapshot;
    this._ui = ui;
    this._viewOnly = config.viewOnly || {};
    this._flushAfterMs = Number.isFinite(config.flushAfterMs) ? config.flushAfterMs : 300;
    this.id = `bif-shared-${config.snapshot}`;
    this.name = 'python3';
    this.clientId = UUID.uuid4();
    this.username = '';
    this.model = { id: this.id, name: this.name };
    this.serverSettings = undefined;
    this.status = 'idle';
    this.connectionStatus = 'connected';
    this.handleComms = true;
    this.hasPendingInput = false;
    this.subshellId = null;
    this.supportsSubshells = false;
    this.isDisposed = false;
    this.statusChanged = new Signal(this);
    this.connectionStatusChanged = new Signal(this);
    this.iopubMessage = new Signal(this);
    this.unhandledMessage = new Signal(this);
    this.anyMessage = new Signal(this);
    this.disposed = new Signal(this);
    this.pendingInput = new Signal(this);
    this.info = Promise.resolve(PYTHON_INFO);
    this.spec = Promise.resolve(PYTHON_SPEC);

    this._targets = Object.create(null); // target name -> comm_open callback
    this._comms = new Map(); // comm id -> SharedComm
    this._live = new Map(); // comm id -> target name, of the comms open in the app
    this._modelNames = new Map(); // comm id -> widget model name (for viewOnly)
    this._hooks = new Map(); // msg id -> message hooks (Output widgets; not used by BIF apps)
    for (const [modelId, state] of Object.entries(snapshot.data.states)) {
      this._live.set(modelId, WIDGET_TARGET);
      this._modelNames.set(modelId, state.model_name || (state.state || {})._model_name);
    }

    this._history = []; // the answered steps, in order
    this._queue = []; // waiting: {step, future} or {flush: true}
    this._running = false;
    this._stopped = false;
    this._flushTimer = null;
    this._retrying = false;
  }

  // --- the kernel connection's interface ---------------------------------------------------

  requestKernelInfo() {
    return Promise.resolve({
      header: header('kernel_info_reply', this),
      parent_header: {},
      channel: 'shell',
      metadata: {},
      content: PYTHON_INFO
    });
  }

  registerCommTarget(targetName, callback) {
    this._targets[targetName] = callback;
    return { isDisposed: false, dispose: () => this.removeCommTarget(targetName, callback) };
  }

  removeCommTarget(targetName, callback) {
    if (this._targets[targetName] === callback) {
      delete this._targets[targetName];
    }
  }

  hasComm(commId) {
    return this._comms.has(commId);
  }

  createComm(targetName, commId = UUID.uuid4()) {
    if (this.isDisposed) {
      throw new Error('Comms are disabled on this kernel connection');
    }
    if (this._comms.has(commId)) {
      throw new Error('Comm is already created');
    }
    const comm = new SharedComm(this, targetName, commId);
    this._comms.set(commId, comm);
    return comm;
  }

  requestCommInfo(content = {}) {
    const comms = {};
    for (const [commId, target] of this._live) {
      if (!content.target_name || content.target_name === target) {
        comms[commId] = { target_name: target };
      }
    }
    return Promise.resolve({
      header: header('comm_info_reply', this),
      parent_header: {},
      channel: 'shell',
      metadata: {},
      content: { status: 'ok', comms }
    });
  }

  registerMessageHook(msgId, hook) {
    if (!this._hooks.has(msgId)) {
      this._hooks.set(msgId, new Set());
    }
    this._hooks.get(msgId).add(hook);
  }

  removeMessageHook(msgId, hook) {
    const hooks = this._hooks.get(msgId);
    if (hooks) {
      hooks.delete(hook);
      if (!hooks.size) {
        this._hooks.delete(msgId);
      }
    }
  }

  dispose() {
    if (this.isDisposed) {
      return;
    }
    this.isDisposed = true;
    this._stopped = true;
    clearTimeout(this._flushTimer);
    this._queue = [];
    for (const comm of [...this._comms.values()]) {
      comm.dispose();
    }
    this.disposed.emit();
    Signal.clearData(this);
  }

  // --- what the comms do ------------------------------------------------------------------

  _forgetComm(commId, comm) {
    if (this._comms.get(commId) === comm) {
      this._comms.delete(commId);
    }
  }

  _commOpen(comm, data, metadata) {
    // The widget manager opens only the control comm; nothing is opened in the app: a widget
    // made in the browser would not exist in the server's copy of the app.
    if (comm.targetName !== CONTROL_TARGET) {
      console.warn(`BIF: a comm for ${comm.targetName} opened in the browser is not sent to the app`);
    }
    const future = new Future(this, 'comm_open', { comm_id: comm.commId, target_name: comm.targetName, data: data || {} }, metadata);
    future.finishSoon();
    return future;
  }

  _commClose(comm, data, metadata) {
    // closed in the browser only (the app does not close widgets because a page did)
    this._live.delete(comm.commId);
    const future = new Future(this, 'comm_close', { comm_id: comm.commId, data: data || {} }, metadata);
    future.finishSoon();
    return future;
  }

  _commSend(comm, data, metadata, buffers = []) {
    if (comm.isDisposed || this.isDisposed) {
      throw new Error('Cannot send');
    }
    const future = new Future(this, 'comm_msg', { comm_id: comm.commId, data }, metadata);
    if (comm.targetName === CONTROL_TARGET) {
      if (data && data.method === 'request_states') {
        setTimeout(() => this._answerRequestStates(comm, future), 0);
      } else {
        future.finishSoon();
      }
      return future;
    }
    if (this._stopped || this._isViewOnly(comm.commId, data)) {
      future.finishSoon();
      return future;
    }
    const step = { comm_id: comm.commId, data, buffers: (buffers || []).map(encodeBuffer) };
    this._enqueue({ step, future });
    return future;
  }

  _isViewOnly(commId, data) {
    if (!data || data.method !== 'update' || !data.state) {
      return false;
    }
    const allowed = this._viewOnly[this._modelNames.get(commId)];
    const keys = Object.keys(data.state);
    return Boolean(allowed) && keys.length > 0 && keys.every(key => allowed.includes(key));
  }

  async _answerRequestStates(comm, future) {
    const msg = {
      header: header('comm_msg', this),
      parent_header: { msg_id: future.msg.header.msg_id },
      channel: 'iopub',
      metadata: {},
      content: { comm_id: comm.commId, data: this._snapshot.data },
      buffers: this._snapshot.buffers.map(decodeBuffer)
    };
    try {
      if (comm.onMsg) {
        await comm.onMsg(msg);
      }
    } catch (error) {
      console.error(error);
    }
    future.finish();
  }

  // --- steps to the server ----------------------------------------------------------------

  _enqueue(item) {
    if (item.step) {
      // a step made before the flush timer fired: its answer tells again whether work is pending
      clearTimeout(this._flushTimer);
      this._flushTimer = null;
    }
    this._queue.push(item);
    if (!this._running) {
      void this._run();
    }
  }

  async _run() {
    this._running = true;
    try {
      while (this._queue.length && !this._stopped) {
        await this._process(this._queue.shift());
      }
    } finally {
      this._running = false;
    }
  }

  async _process(item) {
    const parentId = item.future ? item.future.msg.header.msg_id : UUID.uuid4();
    const body = {
      snapshot: this._config.snapshot,
      history: this._history.slice(),
      step: item.flush ? { flush: true } : item.step
    };
    const busyTimer = setTimeout(() => this._call('busy', true), BUSY_AFTER_MS);
    let answer = null;
    try {
      answer = await this._post(body);
    } catch (error) {
      if (!(error instanceof StopError)) {
        this._call('failed', error);
      }
    } finally {
      clearTimeout(busyTimer);
      this._call('busy', false);
    }
    if (answer) {
      for (const message of answer.messages || []) {
        await this._dispatch(message, parentId);
      }
      if (item.step) {
        this._history.push(item.step);
      }
    }
    if (item.future && !this._stopped) {
      // also when the step failed: the model's throttle must let its next change go
      item.future.finish(answer ? 'ok' : 'error');
    }
    if (answer && answer.pending && item.step && !this._stopped && !this._queue.some(other => other.step)) {
      clearTimeout(this._flushTimer);
      this._flushTimer = setTimeout(() => {
        this._flushTimer = null;
        if (!this._stopped) {
          this._enqueue({ flush: true });
        }
      }, this._flushAfterMs);
    }
  }

  /** POSTs one request; retries when the server is busy or unreachable. */
  async _post(body) {
    const payload = JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      let response = null;
      let networkError = null;
      try {
        response = await fetch(this._config.interactUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          credentials: 'same-origin',
          body: payload
        });
      } catch (error) {
        networkError = error;
      }
      if (this._stopped) {
        throw new StopError('stopped');
      }
      if (response && response.ok) {
        if (this._retrying) {
          this._retrying = false;
          this._call('reconnected');
        }
        return await response.json(); // a broken answer is a failed step
      }
      const retry = networkError || response.status === 429 || response.status === 503;
      if (!retry) {
        const refusal = await readRefusal(response);
        if (response.status === 409) {
          // {"reason": "snapshot"}: the app was updated; {"reason": "refused", "text"}: the server
          // will not compute more for this page (too many changes). A fresh page helps in both.
          this._stop();
          this._call('outdated', refusal.reason === 'refused' ? refusal.text : undefined);
          throw new StopError('outdated');
        }
        const error = new Error(`HTTP ${response.status} ${response.statusText || ''} ${refusal.detail}`.trim());
        error.text = refusal.reason === 'refused' ? refusal.text : undefined;
        throw error;
      }
      if (attempt >= MAX_RETRIES) {
        this._stop();
        this._call('lost', networkError ? `network: ${networkError.message}` : `HTTP ${response.status}`);
        throw new StopError('lost');
      }
      if (!this._retrying) {
        this._retrying = true;
        this._call('reconnecting');
      }
      await sleep(networkError ? (attempt + 1) * 1000 : retryAfterMs(response));
      if (this._stopped) {
        throw new StopError('stopped');
      }
    }
  }

  _stop() {
    this._stopped = true;
    clearTimeout(this._flushTimer);
    this._flushTimer = null;
    this._queue = [];
  }

  _call(name, ...args) {
    const callback = this._ui[name];
    if (callback) {
      try {
        callback(...args);
      } catch (error) {
        console.error(error);
      }
    }
  }

  // --- messages from the app --------------------------------------------------------------

  async _dispatch(message, parentId) {
    const msgType = message.msg_type;
    const content = message.content || {};
    let metadata = message.metadata || {};
    if (msgType === 'comm_open' && !message.metadata && content.target_name === WIDGET_TARGET) {
      metadata = { version: PROTOCOL_VERSION }; // what ipywidgets sends with each comm_open
    }
    const msg = {
      header: header(msgType, this),
      parent_header: { msg_id: parentId },
      channel: 'iopub',
      metadata,
      content,
      buffers: (message.buffers || []).map(decodeBuffer)
    };
    this.iopubMessage.emit(msg);
    this.anyMessage.emit({ msg, direction: 'recv' });
    try {
      switch (msgType) {
        case 'comm_msg': {
          const comm = this._comms.get(content.comm_id);
          if (comm && comm.onMsg) {
            await comm.onMsg(msg);
          }
          break;
        }
        case 'comm_open': {
          await this._openFromApp(msg);
          break;
        }
        case 'comm_close': {
          const comm = this._comms.get(content.comm_id);
          this._live.delete(content.comm_id);
          if (!comm) {
            break;
          }
          this._comms.delete(content.comm_id);
          if (comm.onClose) {
            await comm.onClose(msg);
          }
          comm.dispose();
          break;
        }
        default:
          this.unhandledMessage.emit(msg);
          console.warn(`BIF: message ${msgType} from the app is not handled`);
      }
    } catch (error) {
      // one message that fails must not keep the others from the page
      console.error(error);
    }
  }

  async _openFromApp(msg) {
    const { comm_id: commId, target_name: targetName, data } = msg.content;
    const comm = new SharedComm(this, targetName, commId);
    this._comms.set(commId, comm);
    this._live.set(commId, targetName);
    if (data && data.state && data.state._model_name) {
      this._modelNames.set(commId, data.state._model_name);
    }
    const callback = this._targets[targetName];
    if (!callback) {
      console.error(`BIF: no comm target ${targetName}`);
      comm.close();
      return;
    }
    try {
      await callback(comm, msg);
    } catch (error) {
      comm.close();
      throw error;
    }
  }
}
