/*
 * jupyter-leaflet's widget classes for the widget manager, in two parts:
 *
 * - the classes nearly every map uses (the map, GeoJSON and vector layers, tile layers, markers,
 *   popups, the standard controls and widget controls) are in the page's bundle;
 * - all others, with the Leaflet plugins they need, are in a chunk of their own
 *   (leaflet-more.js) that `ensureClass` loads the first time an app uses one of them.
 *
 * Leaving the rarer two thirds out of every page halves what the browser parses and runs for a
 * map app (bench/README.md, "Many planners at once").
 */
import { PageConfig } from '@jupyterlab/coreutils';
import packageJson from 'jupyter-leaflet/package.json';

import * as map from 'jupyter-leaflet/lib/Map';
import * as layer from 'jupyter-leaflet/lib/layers/Layer';
import * as layerGroup from 'jupyter-leaflet/lib/layers/LayerGroup';
import * as featureGroup from 'jupyter-leaflet/lib/layers/FeatureGroup';
import * as geoJSON from 'jupyter-leaflet/lib/layers/GeoJSON';
import * as rasterLayer from 'jupyter-leaflet/lib/layers/RasterLayer';
import * as tileLayer from 'jupyter-leaflet/lib/layers/TileLayer';
import * as localTileLayer from 'jupyter-leaflet/lib/layers/LocalTileLayer';
import * as wmsLayer from 'jupyter-leaflet/lib/layers/WMSLayer';
import * as imageOverlay from 'jupyter-leaflet/lib/layers/ImageOverlay';
import * as videoOverlay from 'jupyter-leaflet/lib/layers/VideoOverlay';
import * as vectorLayer from 'jupyter-leaflet/lib/layers/VectorLayer';
import * as path from 'jupyter-leaflet/lib/layers/Path';
import * as polyline from 'jupyter-leaflet/lib/layers/Polyline';
import * as polygon from 'jupyter-leaflet/lib/layers/Polygon';
import * as rectangle from 'jupyter-leaflet/lib/layers/Rectangle';
import * as circleMarker from 'jupyter-leaflet/lib/layers/CircleMarker';
import * as circle from 'jupyter-leaflet/lib/layers/Circle';
import * as marker from 'jupyter-leaflet/lib/layers/Marker';
import * as icon from 'jupyter-leaflet/lib/layers/Icon';
import * as divIcon from 'jupyter-leaflet/lib/layers/DivIcon';
import * as popup from 'jupyter-leaflet/lib/layers/Popup';
import * as control from 'jupyter-leaflet/lib/controls/Control';
import * as widgetControl from 'jupyter-leaflet/lib/controls/WidgetControl';
import * as attributionControl from 'jupyter-leaflet/lib/controls/AttributionControl';
import * as zoomControl from 'jupyter-leaflet/lib/controls/ZoomControl';
import * as scaleControl from 'jupyter-leaflet/lib/controls/ScaleControl';
import * as layersControl from 'jupyter-leaflet/lib/controls/LayersControl';
import * as legendControl from 'jupyter-leaflet/lib/controls/LegendControl';

export const MODULE = 'jupyter-leaflet';
export const version = packageJson.version;

// what the widget manager has registered as the module's exports; leaflet-more.js adds to it
export const exports = Object.assign(
  { version },
  map, layer, layerGroup, featureGroup, geoJSON, rasterLayer, tileLayer, localTileLayer, wmsLayer,
  imageOverlay, videoOverlay, vectorLayer, path, polyline, polygon, rectangle, circleMarker, circle,
  marker, icon, divIcon, popup, control, widgetControl, attributionControl, zoomControl, scaleControl,
  layersControl, legendControl
);

let more = null;

function loadMoreStyles() {
  // beside the bundle, with its version (build.mjs); the page links bif-app.css the same way
  const url = new URL('./bif-leaflet-more.css', import.meta.url);
  url.search = `v=${encodeURIComponent(PageConfig.getOption('bifFrontendVersion'))}`;
  if (!document.querySelector(`link[href="${url.href}"]`)) {
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = url.href;
    document.head.appendChild(link);
  }
}

function loadMore() {
  if (more === null) {
    loadMoreStyles();
    more = import('./leaflet-more.js').then(
      module => {
        for (const [name, value] of Object.entries(module)) {
          if (!(name in exports)) {
            exports[name] = value; // the same classes: both parts share jupyter-leaflet's modules
          }
        }
        return exports;
      },
      error => {
        more = null; // a failed load (network) is tried again by the next widget
        throw error;
      }
    );
  }
  return more;
}

/** Before the widget manager looks up `className` of `moduleName`: the rest of jupyter-leaflet
 * when the class is not in the page's bundle. */
export async function ensureClass(className, moduleName) {
  if (moduleName === MODULE && !(className in exports)) {
    await loadMore();
  }
}

/** Before a model of `moduleName` is made from `state`: a map in a projection of its own
 * (`crs.custom`, proj4) needs proj4leaflet from the rest of jupyter-leaflet. */
export async function ensureState(moduleName, state) {
  if (moduleName === MODULE && state && state.crs && state.crs.custom) {
    await loadMore();
  }
}
