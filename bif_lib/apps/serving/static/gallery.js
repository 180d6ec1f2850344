// Filters the app cards as the person types (no server round trip).
(function () {
  var input = document.getElementById("app-filter");
  if (!input) return;
  var cards = Array.prototype.slice.call(document.querySelectorAll("#app-list .card"));
  var count = document.getElementById("app-count");
  var none = document.getElementById("no-match");
  input.addEventListener("input", function () {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    cards.forEach(function (card) {
      var text = card.getAttribute("data-search");
      var match = words.every(function (w) { return text.indexOf(w) !== -1; });
      card.hidden = !match;
      if (match) shown++;
    });
    count.textContent = shown + (shown === 1 ? " App" : " Apps");
    none.hidden = shown !== 0;
  });
})();
