/*
 * BIF's front end for published apps: the Jupyter widget manager on the app's
 * (preheated) kernel, and nothing else.
 *
 * Why not Voilà's own front end: Voilà 0.5 starts a JupyterLab application in
 * every page (plugin system, ~60 script chunks, module federation for each
 * installed widget extension) before it renders one widget. On a warm browser
 * that is most of the time a planner waits for an app. An app page only needs
 * the widget manager, the widget classes the app uses and the renderers for
 * its outputs, bundled into one ES module (and a preloaded chunk) that the
 * browser compiles once and keeps in its code cache; ipyleaflet's rarer classes
 * come on demand (leaflet-widgets.js). The pieces are the ones Voilà itself uses
 * (KernelWidgetManager and WidgetRenderer of @jupyter-widgets/jupyterlab-manager,
 * JupyterLab's rendermime and services); this module only wires them to the
 * page Voilà renders. Apps that need anything else (formulas, markdown or other
 * outputs without a standard renderer here, other widget libraries) are served
 * with Voilà's front end: see bif_lib/apps/serving/frontend.py.
 *
 * In the shared mode (PageConfig bifShared) no kernel belongs to the page: the
 * server rendered the app's default view once for every planner, and the widget
 * manager runs on a SharedKernel that sends each change to the server and applies
 * its answer (see shared.js).
 */
import * as base from '@jupyter-widgets/base';
import * as controls from '@jupyter-widgets/controls';
import { KernelWidgetManager } from '@jupyter-widgets/jupyterlab-manager/lib/manager';
import * as output from '@jupyter-widgets/jupyterlab-manager/lib/output';
import { WidgetRenderer } from '@jupyter-widgets/jupyterlab-manager/lib/renderer';
import { PageConfig } from '@jupyterlab/coreutils';
import { RenderMimeRegistry, standardRendererFactories } from '@jupyterlab/rendermime';
import { CommsOverSubshells, KernelAPI, ServerConnection } from '@jupyterlab/services';
import { KernelConnection } from '@jupyterlab/services/lib/kernel/default';
import { Widget } from '@lumino/widgets';
import * as leaflet from './leaflet-widgets';

import { SharedKernel, parseSharedConfig, readSnapshot } from './shared';

import '@jupyter-widgets/base/css/index.css';
import '@jupyter-widgets/controls/css/widgets-base.css';
import 'jupyter-leaflet/css/jupyter-leaflet.css';

const WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json';
const CELL_OUTPUT = 'script[type="application/vnd.voila.cell-output+json"]';

function registerWidgetModules(manager) {
  // as @jupyter-widgets/jupyterlab-manager's plugins and jupyter-leaflet's do in JupyterLab
  manager.register({
    name: '@jupyter-widgets/base',
    version: base.JUPYTER_WIDGETS_VERSION,
    exports: {
      WidgetModel: base.WidgetModel,
      WidgetView: base.WidgetView,
      DOMWidgetView: base.DOMWidgetView,
      DOMWidgetModel: base.DOMWidgetModel,
      LayoutModel: base.LayoutModel,
      LayoutView: base.LayoutView,
      StyleModel: base.StyleModel,
      StyleView: base.StyleView,
      ErrorWidgetView: base.ErrorWidgetView
    }
  });
  manager.register({ name: '@jupyter-widgets/controls', version: controls.JUPYTER_CONTROLS_VERSION, exports: controls });
  manager.register({ name: '@jupyter-widgets/output', version: output.OUTPUT_WIDGET_VERSION, exports: output });
  manager.register({ name: leaflet.MODULE, version: leaflet.version, exports: leaflet.exports });
}

function renderOutput(rendermime, script, withWidgets) {
  const model = JSON.parse(script.textContent);
  if (!withWidgets && WIDGET_VIEW in (model.data || {})) {
    script.remove(); // a widget cannot work without its kernel
    return;
  }
  const mimeType = rendermime.preferredMimeType(model.data, 'any');
  if (!mimeType) {
    return;
  }
  const renderer = rendermime.createRenderer(mimeType);
  renderer.renderModel(model).catch(error => showOutputProblem(renderer.node, error));
  renderer.addClass('jp-OutputArea-output');
  const container = script.parentElement;
  container.removeChild(script);
  Widget.attach(renderer, container);
}

function renderOutputs(rendermime, withWidgets) {
  // one output that cannot be shown must not keep the others from the page
  for (const script of document.body.querySelectorAll(CELL_OUTPUT)) {
    try {
      renderOutput(rendermime, script, withWidgets);
    } catch (error) {
      const box = document.createElement('div');
      script.replaceWith(box);
      showOutputProblem(box, error);
    }
  }
}

function showOutputProblem(node, error) {
  console.error(error);
  const pre = document.createElement('pre');
  pre.textContent = `Fehler bei der Anzeige: ${error.message}`;
  pre.className = 'lm-Widget jp-RenderedText';
  pre.setAttribute('data-mime-type', 'application/vnd.jupyter.stderr');
  node.appendChild(pre);
}

function showCells() {
  // the template's voila_finish() waits for the theme, which is in the page's CSS already
  window.themeLoaded = true;
  if (window.cellLoaded) {
    window.voila_finish();
  }
}

// --- a lost kernel -------------------------------------------------------------------------
//
// Without its kernel an app is dead: widgets accept input and nothing updates. The kernel is
// gone when it died or was restarted (the server restarts a crashed kernel, but the fresh one
// has not run the app: its widgets do not exist there), or when the page cannot reach it for a
// while. Then the page says so, disables the app and reloads itself: a fresh page gets a fresh
// kernel from the app's pool. A short interruption (network, proxy) only greys the app out
// until the connection is back.

const LOST_TEXT = 'Verbindung zur App unterbrochen – die Seite wird neu geladen';
const UPDATED_TEXT = 'Die App wurde aktualisiert – die Seite wird neu geladen';
const RECONNECTING_TEXT = 'Verbindung zur App unterbrochen – sie wird wiederhergestellt …';
const GAVE_UP_TEXT =
  'Verbindung zur App unterbrochen. Die App ließ sich mehrmals nicht neu starten – ' +
  'bitte laden Sie die Seite später neu; besteht das Problem weiter, wenden Sie sich an das BIF-Team.';
const OFFLINE_NOTICE_MS = 2000; // a blip shorter than this is not worth a notice
const RECONNECT_GRACE_MS = 30000; // not connected again within this: lost (the gateway drops a kernel after 45 s)
const DISCONNECTED_GRACE_MS = 3000; // the connection gave up (or closed on purpose) and did not come back
const RESTORE_AFTER_RECONNECT_MS = 15000; // the widgets must be restored from the kernel by then
const MODEL_WAIT_MS = 2000; // a model looked for before the restore has ended (AppWidgetManager.get_model)
const FIRST_RESTORE_MS = 30000; // the widgets' state must have come from the kernel this long after the page's start
const IOPUB_CHECK_MS = 5000; // after a reconnect, the kernel's answer must arrive over iopub by then
const MAX_SILENT_RECONNECTS = 2; // reconnects without answers over iopub before the page reloads
const RELOAD_DELAY_MS = 3000;
const RELOADS_KEY = 'bif-app-reloads';
const RELOAD_WINDOW_MS = 5 * 60 * 1000;
const MAX_RELOADS = 3; // automatic reloads of one page within RELOAD_WINDOW_MS; then the planner decides
const CONTROLS = 'input, select, textarea, button';

function showConnectionNotice(text, { alert, reloadButton = false }) {
  let notice = document.querySelector('.bif-connection-notice');
  if (!notice) {
    notice = document.createElement('div');
    notice.className = 'bif-connection-notice';
    document.body.appendChild(notice);
  }
  notice.setAttribute('role', alert ? 'alert' : 'status');
  notice.classList.toggle('bif-reconnecting', !alert);
  notice.textContent = text;
  if (reloadButton) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Seite neu laden';
    button.addEventListener('click', () => window.location.reload());
    notice.appendChild(button);
  }
}

function setAppEnabled(enabled) {
  // the notice lies outside the app; everything the planner could change inside it is disabled
  document.body.classList.toggle('bif-kernel-offline', !enabled);
  const app = document.getElementById('rendered_cells') || document.body;
  if (!enabled) {
    for (const control of app.querySelectorAll(CONTROLS)) {
      if (!control.disabled) {
        control.disabled = true;
        control.dataset.bifOffline = '1';
      }
    }
  } else {
    for (const control of app.querySelectorAll('[data-bif-offline]')) {
      control.disabled = false;
      delete control.dataset.bifOffline;
    }
    const notice = document.querySelector('.bif-connection-notice');
    if (notice) {
      notice.remove();
    }
  }
}

function recentReloads() {
  try {
    const now = Date.now();
    return JSON.parse(window.sessionStorage.getItem(RELOADS_KEY) || '[]').filter(t => now - t < RELOAD_WINDOW_MS);
  } catch (error) {
    return [];
  }
}

function reloadPage(text = LOST_TEXT) {
  const reloads = recentReloads();
  if (reloads.length >= MAX_RELOADS) {
    // the app loses its kernel again and again: no reload loop, the planner decides
    showConnectionNotice(GAVE_UP_TEXT, { alert: true, reloadButton: true });
    return;
  }
  showConnectionNotice(text, { alert: true });
  try {
    window.sessionStorage.setItem(RELOADS_KEY, JSON.stringify([...reloads, Date.now()]));
  } catch (error) {
    // without sessionStorage there is no loop guard, and still a reload
  }
  window.setTimeout(() => window.location.reload(), RELOAD_DELAY_MS);
}

async function answersOverIopub(kernel) {
  // a kernel_info request is done when its reply and the kernel's "idle" on iopub have arrived
  let timer;
  const late = new Promise(resolve => {
    timer = window.setTimeout(() => resolve(false), IOPUB_CHECK_MS);
  });
  try {
    return await Promise.race([kernel.requestKernelInfo().then(() => true, () => false), late]);
  } finally {
    window.clearTimeout(timer);
  }
}

function watchKernel(kernel, manager) {
  let leaving = false;
  let lost = false;
  let armed = false; // only after the first connection: a slow first connect is not a loss
  let offlineTimer = null;
  let lostTimer = null;
  let silentReconnects = 0;
  const clearTimers = () => {
    window.clearTimeout(offlineTimer);
    window.clearTimeout(lostTimer);
    offlineTimer = lostTimer = null;
  };
  const lose = reason => {
    if (leaving || lost) {
      return;
    }
    lost = true;
    clearTimers();
    console.warn(`BIF: the app's kernel is lost (${reason}); reloading the page`);
    setAppEnabled(false);
    reloadPage();
  };
  window.addEventListener('beforeunload', () => {
    leaving = true;
    clearTimers();
  });
  // The widgets appear once the kernel has sent their state. Should that never happen (its
  // answers lost on the way, the widget manager's request failed: it then does nothing more),
  // the page would show "Loading widget..." for good; it reloads instead, as for a lost kernel.
  const firstRestore = window.setTimeout(() => {
    if (!manager.restoredStatus) {
      lose('widgets not restored');
    }
  }, FIRST_RESTORE_MS);
  manager.restored.connect(() => window.clearTimeout(firstRestore));
  kernel.statusChanged.connect((_, status) => {
    if (status === 'dead' || status === 'restarting' || status === 'autorestarting') {
      lose(`kernel ${status}`);
    }
  });
  kernel.connectionStatusChanged.connect((_, status) => {
    if (leaving || lost) {
      return;
    }
    if (status === 'connected') {
      const reconnected = armed && (offlineTimer !== null || lostTimer !== null);
      armed = true;
      clearTimers();
      if (reconnected) {
        // the widget manager reloads every widget's state from the kernel after a reconnect;
        // a change made before that is done would be overwritten by the old state. The app
        // comes back when the kernel has answered with its widgets, or the page is reloaded.
        setAppEnabled(false); // also after a blip too short for the notice
        const restoredOnce = async () => {
          manager.restored.disconnect(restoredOnce);
          // The manager also calls itself restored when the kernel's widget states did not come
          // back (it then asks over the shell channel only). Updates reach the page over iopub:
          // the app comes back only when a request's answer arrived there too.
          if (!(await answersOverIopub(kernel))) {
            if (++silentReconnects > MAX_SILENT_RECONNECTS) {
              lose('no messages from the kernel after reconnecting');
            } else {
              console.warn('BIF: no messages from the kernel after reconnecting; connecting again');
              kernel.reconnect().catch(() => lose('reconnecting failed'));
            }
            return;
          }
          silentReconnects = 0;
          await manager.releaseHeldChanges();
          window.clearTimeout(lostTimer);
          lostTimer = null;
          if (!lost && kernel.connectionStatus === 'connected') {
            setAppEnabled(true);
          }
        };
        manager.restored.connect(restoredOnce);
        lostTimer = window.setTimeout(() => {
          manager.restored.disconnect(restoredOnce);
          lose('widgets not restored after reconnecting');
        }, RESTORE_AFTER_RECONNECT_MS);
      }
      return;
    }
    if (!armed) {
      // a failed first attempt is retried, and a kernel found gone meanwhile ends as 'dead'
      // (above); only a connection that gave up before it ever stood is a loss
      if (status === 'disconnected') {
        lose('no first connection');
      }
      return;
    }
    const justDropped = lostTimer === null;
    if (offlineTimer === null && !document.body.classList.contains('bif-kernel-offline')) {
      offlineTimer = window.setTimeout(() => {
        setAppEnabled(false);
        showConnectionNotice(RECONNECTING_TEXT, { alert: false });
      }, OFFLINE_NOTICE_MS);
    }
    window.clearTimeout(lostTimer);
    lostTimer = window.setTimeout(
      () => lose(`connection ${kernel.connectionStatus}`),
      status === 'disconnected' ? DISCONNECTED_GRACE_MS : RECONNECT_GRACE_MS
    );
    if (justDropped) {
      // The server ends a page's connection when its kernel was shut down or is gone (the
      // gateway's orphan check, the app service restarted): waiting for a reconnect is no use
      // then. Unreachable (a short interruption): the timers above decide.
      ownKernelModel(kernel.id, kernel.serverSettings).then(
        model => model || lose('kernel gone'),
        () => undefined
      );
    }
  });
  if (kernel.connectionStatus === 'connected') {
    armed = true;
  }
}

function shutdownOnLeave(baseUrl, kernel) {
  // as Voilà's front end does: the kernel of a closed app page is shut down at once
  window.addEventListener('beforeunload', () => {
    const data = new FormData();
    const xsrf = (document.cookie.match('\\b_xsrf=([^;]*)\\b') || [])[1] || '';
    data.append('_xsrf', xsrf);
    window.navigator.sendBeacon(`${baseUrl}voila/api/shutdown/${kernel.id}`, data);
    kernel.dispose();
  });
}

// The widget manager of both modes: loads the rarer part of jupyter-leaflet when a widget needs it
// (leaflet-widgets.js).
class AppWidgetManager extends KernelWidgetManager {
  async loadClass(className, moduleName, moduleVersion) {
    await leaflet.ensureClass(className, moduleName);
    return super.loadClass(className, moduleName, moduleVersion);
  }

  async _make_model(options, serializedState) {
    await leaflet.ensureState(options.model_module, serializedState);
    return super._make_model(options, serializedState);
  }

  // ManagerBase.get_model waits 2 s (in steps of 100 ms) for a model that is not there yet and
  // then fails without looking a last time; the widget renderer calls the model missing for good
  // when the manager has been restored by then. A restore that ended in the wait's last step (a
  // busy machine, many pages opening at once) left "Error displaying widget: model not found"
  // on the page for good (ipywidgets#4040, open). Here a model looked for before the manager is
  // restored is first waited for until it is registered or the restore has ended (then every
  // model of the kernel is there), at most MODEL_WAIT_MS: the restore itself looks for the
  // children of the models it creates, and must not wait for its own end; then as ManagerBase
  // does, and a last look.
  async get_model(modelId) {
    if (!this.has_model(modelId) && !this.restoredStatus) {
      let timer;
      await new Promise(resolve => {
        const waiting = (this._bifWaiting ??= new Map());
        waiting.set(modelId, [...(waiting.get(modelId) || []), resolve]);
        if (!this._bifRestoreHeard) {
          this._bifRestoreHeard = true;
          this.restored.connect(() => this._bifWake());
        }
        timer = window.setTimeout(resolve, MODEL_WAIT_MS);
      });
      window.clearTimeout(timer);
    }
    try {
      return await super.get_model(modelId);
    } catch (error) {
      if (this.has_model(modelId)) {
        return this._models[modelId];
      }
      throw error;
    }
  }

  register_model(modelId, modelPromise) {
    super.register_model(modelId, modelPromise);
    this._bifWake(modelId);
  }

  _bifWake(modelId) {
    // one model registered, or (without an id) the restore ended: its waiters look again
    const waiting = this._bifWaiting;
    if (!waiting) {
      return;
    }
    for (const id of modelId === undefined ? [...waiting.keys()] : [modelId]) {
      (waiting.get(id) || []).forEach(resolve => resolve());
      waiting.delete(id);
    }
  }

  // After a reconnect. What the kernel sent while the connection broke is lost with it
  // (jupyter_server keeps only what arrives after it noticed the close). ipywidgets sends a
  // widget's next change only after the kernel's "idle" for the one before
  // (WidgetModel._pending_msgs, @jupyter-widgets/base 6): a lost "idle" would hold back every
  // later change of that widget for good, and the app would stop answering it. A lost echo
  // would make the widget ignore the kernel's echoes of that attribute until its next change.
  // Called when the kernel has answered a request sent after the reconnect, so every answer
  // still on its way has arrived: whatever the page still waits for is lost. The widgets'
  // state was just reloaded from the kernel, so a change held back meanwhile is dropped (the
  // page shows the kernel's state; the planner can make the change again).
  async releaseHeldChanges() {
    let released = 0;
    for (const modelPromise of Object.values(this._models)) {
      const model = await modelPromise.catch(() => null);
      if (!model || typeof model._pending_msgs !== 'number') {
        continue;
      }
      if (model._pending_msgs > 0) {
        model._pending_msgs = 0;
        model._msg_buffer = null;
        model._msg_buffer_callbacks = null;
        released += 1;
      }
      model._expectedEchoMsgIds?.clear();
    }
    if (released) {
      console.warn(`BIF: answers lost with the connection; ${released} widget(s) may send changes again`);
    }
    return released;
  }
}

// ipywidgets' renderer writes its notices in English: planners read them in German
const WIDGET_NOTICES = {
  'Loading widget...': 'Wird geladen …',
  'Error displaying widget': 'Dieser Teil der App kann nicht angezeigt werden.',
  'Error displaying widget: model not found': 'Dieser Teil der App kann nicht angezeigt werden.'
};

class AppWidgetRenderer extends WidgetRenderer {
  async renderModel(model) {
    const rendered = super.renderModel(model); // writes its loading notice before it first waits
    this.germanNotice();
    await rendered;
    this.germanNotice();
  }

  germanNotice() {
    const german = WIDGET_NOTICES[this.node.textContent];
    if (german) {
      this.node.textContent = german;
    }
  }
}

function widgetManager(kernel, rendermime) {
  const manager = new AppWidgetManager(kernel, rendermime);
  registerWidgetModules(manager);
  rendermime.removeMimeType(WIDGET_VIEW);
  rendermime.addFactory(
    { safe: false, mimeTypes: [WIDGET_VIEW], createRenderer: options => new AppWidgetRenderer(options, manager) },
    -10
  );
  return manager;
}

class KernelGone extends Error {}

// The page's kernel as the server sees it; undefined when the page cannot have it any more:
// KernelAPI gives undefined for a 404, and the gateway answers 403 for a kernel that is not
// bound to this planner (shut down meanwhile, or the login ended). A reload helps both (a
// fresh kernel, or the login page).
async function ownKernelModel(kernelId, serverSettings) {
  try {
    return await KernelAPI.getKernelModel(kernelId, serverSettings);
  } catch (error) {
    if (error.response && error.response.status === 403) {
      return undefined;
    }
    throw error;
  }
}

async function connectWidgets(rendermime) {
  const baseUrl = PageConfig.getBaseUrl();
  const kernelId = PageConfig.getOption('kernelId');
  const serverSettings = ServerConnection.makeSettings({ baseUrl });
  const model = await ownKernelModel(kernelId, serverSettings);
  if (!model) {
    // shut down before this page asked for it (it came later than apps.orphan_timeout)
    throw new KernelGone(`the kernel ${kernelId} of this page is gone before its first connection`);
  }
  // No subshell per comm target: Voilà lets only comm and kernel-info messages through to an
  // app's kernel and drops create_subshell_request (a warning in its log and a request that is
  // never answered, twice per page); the widgets' messages run on the main shell either way.
  const kernel = new KernelConnection({ model, serverSettings, commsOverSubshells: CommsOverSubshells.Disabled });
  const manager = widgetManager(kernel, rendermime);
  watchKernel(kernel, manager);
  shutdownOnLeave(baseUrl, kernel);
}

// --- the shared mode -----------------------------------------------------------------------
//
// No kernel belongs to the page, so nothing can be lost but the server: it is asked again
// while it is busy or unreachable (the app is greyed out meanwhile), and when it cannot be
// reached at all, or the app was updated since the page was rendered, the page reloads.
// A change the server could not compute is reported; the app stays usable.

const STEP_FAILED_TEXT =
  'Die Änderung konnte nicht berechnet werden. Bitte laden Sie die Seite neu; ' +
  'besteht das Problem weiter, wenden Sie sich an das BIF-Team.';

function connectShared(rendermime, config) {
  const snapshot = readSnapshot(document);
  let leaving = false;
  window.addEventListener('beforeunload', () => {
    leaving = true; // a request cut off by leaving is not a lost connection
  });
  const kernel = new SharedKernel(config, snapshot, {
    reconnecting: () => {
      setAppEnabled(false);
      showConnectionNotice(RECONNECTING_TEXT, { alert: false });
    },
    reconnected: () => setAppEnabled(true),
    lost: reason => {
      if (leaving) {
        return;
      }
      console.warn(`BIF: the app's server cannot be reached (${reason}); reloading the page`);
      setAppEnabled(false);
      reloadPage();
    },
    outdated: text => {
      console.warn(`BIF: the server computes no more for this page (${text || 'the app was updated'}); reloading it`);
      setAppEnabled(false);
      reloadPage(text || UPDATED_TEXT);
    },
    failed: error => showProblem(error, error.text || STEP_FAILED_TEXT),
    busy: busy => {
      document.body.classList.toggle('bif-computing', busy);
      const app = document.getElementById('rendered_cells');
      if (app) {
        app.setAttribute('aria-busy', busy ? 'true' : 'false');
      }
    }
  });
  const manager = widgetManager(kernel, rendermime);
  window.bifShared = { kernel, manager };
}

async function main() {
  document.body.classList.add('bif-frontend'); // app.css: BIF's own notices instead of jupyter-widgets' icons
  const rendermime = new RenderMimeRegistry({ initialFactories: standardRendererFactories });
  let withWidgets = true;
  const sharedOption = PageConfig.getOption('bifShared');
  document.body.dataset.bifMode = sharedOption ? 'shared' : 'kernel';
  try {
    const shared = parseSharedConfig(sharedOption);
    if (shared) {
      connectShared(rendermime, shared);
    } else {
      await connectWidgets(rendermime);
    }
  } catch (error) {
    // without their kernel the widgets cannot work: show everything else
    withWidgets = false;
    if (error instanceof KernelGone) {
      console.warn(`BIF: ${error.message}; reloading the page`);
      reloadPage(); // a fresh page gets a fresh kernel
    } else {
      showProblem(error);
    }
  }
  renderOutputs(rendermime, withWidgets);
  showCells();
}

const CONNECT_PROBLEM_TEXT =
  'Die App konnte keine Verbindung zu ihrem Rechenkern aufbauen. ' +
  'Bitte laden Sie die Seite neu; besteht das Problem weiter, wenden Sie sich an das BIF-Team.';

function showProblem(error, text = CONNECT_PROBLEM_TEXT) {
  // the planner sees what happened and what to do; the details go to the console
  console.error(error);
  const shown = document.querySelector('.bif-app-problem');
  if (shown) {
    shown.textContent = text; // one notice, however often it happens
    return;
  }
  const notice = document.createElement('div');
  notice.className = 'bif-app-problem';
  notice.setAttribute('role', 'alert');
  notice.textContent = text;
  const appbar = document.querySelector('.bif-appbar');
  if (appbar) {
    appbar.after(notice);
  } else {
    document.body.prepend(notice);
  }
}

main().catch(error => {
  console.error(error);
  showCells();
});
