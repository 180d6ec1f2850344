/*
 * The rest of jupyter-leaflet: its plugins (jupyter-leaflet's own lib/leaflet.js, which adds
 * them to the same Leaflet object and loads their style sheets) and all its widget classes.
 * Loaded by leaflet-widgets.js, as a chunk of its own, the first time an app needs it.
 */
import 'jupyter-leaflet/lib/leaflet';

export * from 'jupyter-leaflet/lib/jupyter-leaflet';
