(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var metric = data.primary, cand = 1;
  var sortKey = "delta", sortDir = 1;
  var tbody = document.querySelector("#queries tbody");
  var filterBox = document.getElementById("filter");
  var segSelect = document.getElementById("segment");
  var moveSelect = document.getElementById("moved");
  var configSelect = document.getElementById("config");
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function mi() { return data.metrics.indexOf(metric); }
  function fmt(v) { return (v === null || v === undefined) ? "—" : v.toFixed(3); }
  function signed(v) { return (v > 0 ? "+" : "") + v.toFixed(3); }
  function base(q) { return q.v[0][mi()]; }
  function candv(q) { return q.v[cand][mi()]; }
  function delta(q) { return candv(q) - base(q); }
  // above 0: the candidate is better on this query (a fall of a lower-is-better measure such as LowQ@k)
  function gain(q) { return data.lower.indexOf(metric) >= 0 ? -delta(q) : delta(q); }
  function value(q, key) {
    if (key === "delta") return delta(q);
    if (key === "base") return base(q);
    if (key === "cand") return candv(q);
    if (key === "jaccard") return q.o[cand - 1][0];
    if (key === "rbo") return q.o[cand - 1][1];
    return {text: q.t, segment: q.s, count: q.n}[key];
  }
  function rows() {
    var needle = filterBox.value.toLowerCase();
    var seg = segSelect.value, moved = moveSelect.value;
    var list = data.queries.filter(function (q) {
      if (needle && q.t.toLowerCase().indexOf(needle) < 0) return false;
      if (seg && q.s !== seg) return false;
      var d = gain(q);
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
    var frag = document.createDocumentFragment();
    list.forEach(function (q) {
      var tr = el("tr", "qrow");
      tr.appendChild(el("td", "", q.t));
      tr.appendChild(el("td", "", q.s));
      tr.appendChild(el("td", "num", q.n));
      tr.appendChild(el("td", "num", fmt(base(q))));
      tr.appendChild(el("td", "num", fmt(candv(q))));
      var d = delta(q), g = gain(q);
      tr.appendChild(el("td", "num " + (g > 0 ? "up" : g < 0 ? "down" : ""), signed(d)));
      tr.appendChild(el("td", "num", fmt(q.o[cand - 1][0])));
      tr.appendChild(el("td", "num", fmt(q.o[cand - 1][1])));
      tr.addEventListener("click", function () { drill(q, true); });
      frag.appendChild(tr);
    });
    tbody.textContent = "";
    tbody.appendChild(frag);
    document.getElementById("shown").textContent = list.length + " of " + data.queries.length + " queries";
  }
  function hitList(q, side, other, sideName) {
    var ol = el("ol", "hits");
    var otherRank = {};
    q.p[other].forEach(function (slot, i) { otherRank[slot] = i + 1; });
    q.p[side].forEach(function (slot, i) {
      var rank = i + 1;
      var prod = data.products[q.h[slot]];
      var code = q.l.charAt(slot);
      var label = code === "-" ? null : data.labels[Number(code)];
      var li = el("li", "hit label-" + (label || "unjudged"));
      var img = prod[5] >= 0 ? data.images[prod[5]] : null;
      var frame = el("div", "thumbframe");
      if (img) { var im = el("img", "thumb"); im.src = img; im.alt = ""; frame.appendChild(im); }
      else { frame.appendChild(el("div", "thumb none", "no image")); }
      if (prod[6] !== null && prod[6] !== undefined) {
        var qb = el("span", "qbadge q" + prod[6], prod[6]);
        qb.title = "photo quality " + prod[6] + "/5" + (prod[7] >= 0 ? ": " + data.strings[prod[7]] : "");
        frame.appendChild(qb);
      }
      li.appendChild(frame);
      var body = el("div", "hit-body");
      body.appendChild(el("div", "hit-title", rank + ". " + prod[1]));
      body.appendChild(el("div", "hit-meta", [prod[0], prod[2], prod[3], prod[4] !== null ? prod[4] : ""].filter(Boolean).join(" · ")));
      body.appendChild(el("span", "badge", label || "unjudged"));
      var mark = "";
      if (!(slot in otherRank)) mark = sideName === "cand" ? "new" : "dropped";
      else if (otherRank[slot] !== rank) {
        var diff = sideName === "cand" ? otherRank[slot] - rank : rank - otherRank[slot];
        mark = diff > 0 ? "moved up " + Math.abs(diff) : "moved down " + Math.abs(diff);
      }
      if (mark) body.appendChild(el("span", "marker", mark));
      body.appendChild(el("div", "rationale", q.r[slot] >= 0 ? data.strings[q.r[slot]] : "not judged"));
      li.appendChild(body);
      ol.appendChild(li);
    });
    if (!q.p[side].length) ol.appendChild(el("li", "empty", "no hits"));
    return ol;
  }
  function configFacts(cfg, role) {
    var box = el("div", "config-facts");
    box.appendChild(el("h3", "", cfg.name + " (" + role + ")"));
    box.appendChild(el("div", "", "run " + cfg.run_id + (cfg.status !== "finished" ? " · " + cfg.status : "")));
    box.appendChild(el("div", "", "catalog: " + (cfg.catalog || "not recorded")));
    box.appendChild(el("div", "", "description: " + (cfg.description || "none")));
    return box;
  }
  function drill(q, scroll) {
    var box = document.getElementById("drilldown");
    box.textContent = "";
    box.appendChild(el("h2", "", "Query: " + q.t));
    box.appendChild(el("p", "", metric + ": " + fmt(base(q)) + " → " + fmt(candv(q)) +
      " (" + signed(delta(q)) + "), Jaccard " + fmt(q.o[cand - 1][0]) + ", RBO " + fmt(q.o[cand - 1][1])));
    var g = data.guidelines[q.g];
    var gbox = el("details", "guideline");
    gbox.open = true;
    gbox.appendChild(el("summary", "", "Guideline the judge used" + (g.writer ? " (written by " + g.writer + ")" : "")));
    if (g.req.length) {
      var ul = el("ul", "requirements");
      g.req.forEach(function (r) { ul.appendChild(el("li", "", r[2] + ": " + r[0] + " = " + r[1])); });
      gbox.appendChild(ul);
    }
    gbox.appendChild(el("div", "guideline-text", g.text || "(no guideline text)"));
    box.appendChild(gbox);
    var grid = el("div", "sides");
    var left = el("div", "side"), right = el("div", "side");
    left.appendChild(configFacts(data.configs[0], "baseline"));
    right.appendChild(configFacts(data.configs[cand], "candidate"));
    left.appendChild(hitList(q, 0, cand, "base"));
    right.appendChild(hitList(q, cand, 0, "cand"));
    grid.appendChild(left); grid.appendChild(right);
    box.appendChild(grid);
    box.hidden = false;
    if (scroll) box.scrollIntoView();
  }
  document.querySelectorAll("#queries th[data-key]").forEach(function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      if (sortKey === key) sortDir = -sortDir; else { sortKey = key; sortDir = 1; }
      render();
    });
  });
  document.getElementById("metric").addEventListener("change", function (e) { metric = e.target.value; render(); });
  configSelect.addEventListener("change", function (e) {
    cand = Number(e.target.value);
    render();
    var list = rows();
    if (list.length) drill(list[0], false);
  });
  [filterBox, segSelect, moveSelect].forEach(function (c) { c.addEventListener("input", render); });
  render();
  var first = rows();
  if (first.length) drill(first[0], false);
  window.scrollTo(0, 0);
})();
