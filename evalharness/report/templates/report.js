(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var metric = data.primary;
  var sortKey = "delta", sortDir = 1;
  var tbody = document.querySelector("#queries tbody");
  var filterBox = document.getElementById("filter");
  var segSelect = document.getElementById("segment");
  var moveSelect = document.getElementById("moved");
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmt(v) { return (v === null || v === undefined) ? "—" : v.toFixed(3); }
  function signed(v) { return (v > 0 ? "+" : "") + v.toFixed(3); }
  function delta(q) { return q.cand[metric] - q.base[metric]; }
  function value(q, key) {
    if (key === "delta") return delta(q);
    if (key === "base" || key === "cand") return q[key][metric];
    return q[key];
  }
  function rows() {
    var needle = filterBox.value.toLowerCase();
    var seg = segSelect.value, moved = moveSelect.value;
    var list = data.queries.filter(function (q) {
      if (needle && q.text.toLowerCase().indexOf(needle) < 0) return false;
      if (seg && q.segment !== seg) return false;
      var d = delta(q);
      if (moved === "up" && !(d > 0)) return false;
      if (moved === "down" && !(d < 0)) return false;
      if (moved === "same" && d !== 0) return false;
      return true;
    });
    list.sort(function (a, b) {
      var x = value(a, sortKey), y = value(b, sortKey);
      if (typeof x === "string") return sortDir * x.localeCompare(y);
      return sortDir * (x - y);
    });
    return list;
  }
  function render() {
    var list = rows();
    tbody.textContent = "";
    list.forEach(function (q) {
      var tr = el("tr", "qrow");
      tr.appendChild(el("td", "", q.text));
      tr.appendChild(el("td", "", q.segment));
      tr.appendChild(el("td", "num", q.count));
      tr.appendChild(el("td", "num", fmt(q.base[metric])));
      tr.appendChild(el("td", "num", fmt(q.cand[metric])));
      var d = delta(q);
      tr.appendChild(el("td", "num " + (d > 0 ? "up" : d < 0 ? "down" : ""), signed(d)));
      tr.appendChild(el("td", "num", fmt(q.jaccard)));
      tr.appendChild(el("td", "num", fmt(q.rbo)));
      tr.addEventListener("click", function () { drill(q); });
      tbody.appendChild(tr);
    });
    document.getElementById("shown").textContent = list.length + " of " + data.queries.length + " queries";
  }
  function hitList(hits, other, side) {
    var ol = el("ol", "hits");
    var otherRank = {};
    other.forEach(function (h) { otherRank[h.doc_id] = h.rank; });
    hits.forEach(function (h) {
      var li = el("li", "hit label-" + (h.label || "unjudged"));
      var img = data.images[h.doc_id];
      if (img) { var im = el("img", "thumb"); im.src = img; im.alt = ""; li.appendChild(im); }
      else { li.appendChild(el("div", "thumb none", "no image")); }
      var body = el("div", "hit-body");
      var title = el("div", "hit-title", h.rank + ". " + h.title);
      body.appendChild(title);
      var meta = el("div", "hit-meta", [h.doc_id, h.brand, h.color, h.price !== null ? h.price : ""].filter(Boolean).join(" · "));
      body.appendChild(meta);
      var badge = el("span", "badge", h.label || "unjudged");
      body.appendChild(badge);
      var mark = "";
      if (!(h.doc_id in otherRank)) mark = side === "cand" ? "new" : "dropped";
      else if (otherRank[h.doc_id] !== h.rank) {
        var diff = side === "cand" ? otherRank[h.doc_id] - h.rank : h.rank - otherRank[h.doc_id];
        mark = diff > 0 ? "moved up " + Math.abs(diff) : "moved down " + Math.abs(diff);
      }
      if (mark) body.appendChild(el("span", "marker", mark));
      body.appendChild(el("div", "rationale", h.rationale));
      li.appendChild(body);
      ol.appendChild(li);
    });
    if (!hits.length) ol.appendChild(el("li", "empty", "no hits"));
    return ol;
  }
  function drill(q) {
    var box = document.getElementById("drilldown");
    box.textContent = "";
    box.appendChild(el("h2", "", "Query: " + q.text));
    box.appendChild(el("p", "", metric + ": " + fmt(q.base[metric]) + " → " + fmt(q.cand[metric]) +
      " (" + signed(delta(q)) + "), Jaccard " + fmt(q.jaccard) + ", RBO " + fmt(q.rbo)));
    var grid = el("div", "sides");
    var left = el("div", "side"), right = el("div", "side");
    left.appendChild(el("h3", "", data.baseline + " (baseline)"));
    right.appendChild(el("h3", "", data.candidate + " (candidate)"));
    left.appendChild(hitList(q.base_hits, q.cand_hits, "base"));
    right.appendChild(hitList(q.cand_hits, q.base_hits, "cand"));
    grid.appendChild(left); grid.appendChild(right);
    box.appendChild(grid);
    box.hidden = false;
    box.scrollIntoView();
  }
  document.querySelectorAll("#queries th[data-key]").forEach(function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      if (sortKey === key) sortDir = -sortDir; else { sortKey = key; sortDir = 1; }
      render();
    });
  });
  document.getElementById("metric").addEventListener("change", function (e) { metric = e.target.value; render(); });
  [filterBox, segSelect, moveSelect].forEach(function (c) { c.addEventListener("input", render); });
  render();
  if (data.queries.length) drill(rows()[0]);
})();
