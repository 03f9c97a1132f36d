// Review page keys and focus: j/k move between edits, a/r decide the edit in focus, u undoes
// the last rejection, ? lists the keys. After a decision only that edit's card is replaced
// (htmx); focus moves to the next undecided edit without jumping the page.
(function () {
  "use strict";
  var lastRejected = null;

  function cards() { return Array.prototype.slice.call(document.querySelectorAll("section.edit")); }
  function current() {
    var el = document.activeElement;
    return el && el.closest ? el.closest("section.edit") : null;
  }
  function focusCard(card) {
    if (!card) { return; }
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" });
  }
  function move(step) {
    var all = cards(), at = all.indexOf(current());
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1) : at + step;
    if (next >= 0 && next < all.length) { focusCard(all[next]); }
  }
  function nextUndecided(from, step) {
    var all = cards(), at = Math.max(0, all.indexOf(from));
    var order = all.slice(at + 1).concat(all.slice(0, at));
    if (step < 0) { order = all.slice(0, at).reverse().concat(all.slice(at + 1).reverse()); }
    return order.filter(function (c) { return c.dataset.status === "pending"; })[0] || null;
  }
  function press(card, selector) {
    var button = card && card.querySelector(selector);
    if (button) { button.click(); return true; }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) { return; }
    var help = document.getElementById("keys-help");
    var card = current();
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "a": if (!press(card, "form.decide button.approve")) { return; } break;
      case "r": if (!press(card, "form.decide button.reject")) { return; } break;
      case "u":
        if (!press(card, "button.undo")) {
          var again = lastRejected && document.getElementById(lastRejected);
          if (!press(again, "button.undo")) { return; }
        }
        break;
      case "?": if (help && !help.open) { help.showModal(); } break;
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.keys-link");
    var help = document.getElementById("keys-help");
    if (link && help) { event.preventDefault(); help.showModal(); return; }
    var jump = event.target.closest && event.target.closest("a.undecided");
    if (jump && current()) {  // relative to the edit in focus; else the link's own target
      var found = nextUndecided(current(), Number(jump.dataset.step));
      if (found) { event.preventDefault(); focusCard(found); }
    }
  });

  // htmx:load fires on the card that replaced the old one (the old one is detached by then).
  document.addEventListener("htmx:load", function (event) {
    var card = event.target;
    if (!card || !card.matches || !card.matches("section.edit")) { return; }
    if (card.dataset.status === "rejected") { lastRejected = card.id; }
    if (card.querySelector(".card-message [role=alert].warning") || card.dataset.status === "pending") {
      focusCard(card);
      return;
    }
    focusCard(nextUndecided(card) || card);
  });
})();
