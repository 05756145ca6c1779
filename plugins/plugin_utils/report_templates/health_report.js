(function () {
  var table = document.getElementById("findings");
  if (!table || !table.tHead) { return; }
  var heads = table.tHead.rows[0].cells;
  function key(cell) {
    var v = cell.getAttribute("data-sort");
    return v === null ? cell.textContent.trim() : v;
  }
  function isNum(s) { return s !== "" && isFinite(Number(s)); }
  function cmp(a, b) {
    if (isNum(a) && isNum(b)) { return Number(a) - Number(b); }
    if (a === "" && b !== "") { return 1; }
    if (b === "" && a !== "") { return -1; }
    return a.localeCompare(b, undefined, {numeric: true, sensitivity: "base"});
  }
  function sortBy(index) {
    var th = heads[index];
    var asc = th.getAttribute("aria-sort") !== "ascending";
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (x, y) { var r = cmp(key(x.cells[index]), key(y.cells[index])); return asc ? r : -r; });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(heads, function (th, index) {
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortBy(index); });
    th.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortBy(index); } });
  });
  table.setAttribute("data-sortable", "true");
})();
