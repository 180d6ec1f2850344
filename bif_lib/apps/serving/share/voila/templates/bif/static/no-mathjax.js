// Stands in for MathJax in apps without formulas (bif_lib/apps/serving/frontend.py):
// Voilà's MathJax 2 typesetter configures it and queues typesetting, which does nothing.
window.MathJax = {Hub: {Config() {}, Configured() {}, Queue() {}, Register: {StartupHook() {}}}};
