// Keyboard: left/right arrow (or j/k) for previous/next page, n for the next document, e to edit.
// Nothing happens while typing in a field.
document.addEventListener("keydown", function (ev) {
  var t = ev.target;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
  var ids = {ArrowLeft: "prev-page", k: "prev-page", ArrowRight: "next-page", j: "next-page", n: "next-doc", e: "edit-tab"};
  var id = ids[ev.key];
  if (!id) return;
  var link = document.getElementById(id);
  if (link) { ev.preventDefault(); window.location.assign(link.href); }
});
