/*
 * The Leaflet that jupyter-leaflet's common widget classes are bundled with (build.mjs points
 * their `../leaflet` here): Leaflet itself and what every map needs, without the 17 plugins
 * that jupyter-leaflet's own `lib/leaflet.js` loads for its rarer layers and controls (drawing,
 * measuring, clusters, heat maps, vector tiles, projections …). Those are two thirds of the
 * jupyter-leaflet part of the bundle and most of its start-up work in every page; they come
 * with leaflet-more.js when an app uses one of those classes (see leaflet-widgets.js).
 */
import 'leaflet-defaulticon-compatibility/dist/leaflet-defaulticon-compatibility.webpack.css';
import 'leaflet/dist/leaflet.css';

import L from 'leaflet';
import 'leaflet-defaulticon-compatibility';
import 'leaflet-rotatedmarker'; // the Marker widget's rotation_angle (tiny)

// As jupyter-leaflet 0.20.0's lib/leaflet.js: TileLayer.redraw() swaps a tile only once its new
// image is loaded (no flicker). Copied because that file also loads all the plugins.
L.Layer.include({
  _refreshTileUrl: function (tile, url) {
    const img = new Image();
    img.onload = () => {
      L.Util.requestAnimFrame(() => {
        tile.el.src = url;
      });
    };
    img.src = url;
  },
  refresh: function () {
    const wasAnimated = this._map._fadeAnimated;
    this._map._fadeAnimated = false;
    for (const key in this._tiles) {
      const tile = this._tiles[key];
      if (tile.current && tile.active) {
        const oldsrc = tile.el.src;
        const newsrc = this.getTileUrl(tile.coords);
        if (oldsrc != newsrc) {
          this._refreshTileUrl(tile, newsrc);
        }
      }
    }
    if (wasAnimated) {
      setTimeout(() => {
        this._map._fadeAnimated = wasAnimated;
      }, 5000);
    }
  }
});

export default L;
