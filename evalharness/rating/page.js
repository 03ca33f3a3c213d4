"use strict";
// The rating page: fetches the pair as JSON and builds the DOM with textContent only (no HTML parsing of
// catalog text). One action at a time; every action is saved by the server before the next pair is shown.
(function () {
  const scheme = JSON.parse(document.getElementById("scheme").textContent);
  const $ = (id) => document.getElementById(id);
  let state = null;
  let busy = false;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function showError(message) {
    const box = $("error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  async function call(path, body) {
    const options = body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
    const response = await fetch(path, options);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      if (data && data.state) render(data.state);
      throw new Error((data && data.error) || ("the server answered " + response.status));
    }
    return data;
  }

  async function act(path, body) {
    if (busy) return;
    busy = true;
    document.body.classList.add("busy");
    try {
      render(await call(path, body));
      showError("");
    } catch (e) {
      showError(String(e.message || e));
    } finally {
      busy = false;
      document.body.classList.remove("busy");
    }
  }

  function renderLabels() {
    const box = $("labels");
    clear(box);
    scheme.forEach((label, i) => {
      const button = el("button", null, "lbl-" + i);
      button.type = "button";
      button.dataset.label = label.name;
      if (label.colour) button.style.background = label.colour;
      button.appendChild(el("kbd", label.key));
      button.appendChild(document.createTextNode(" " + label.name));
      button.appendChild(el("span", label.definition, "def"));
      button.addEventListener("click", () => give(label.name));
      box.appendChild(button);
    });
    const keys = $("help-keys");
    clear(keys);
    const rows = scheme.map((l) => [l.key, l.name + " — " + l.definition]).concat([
      ["s", "skip this pair (it comes back at the end)"], ["u", "undo the last label or skip"],
      ["n", "write a note for this pair (Esc to leave the note)"], ["?", "show or hide this help"]]);
    rows.forEach(([key, what]) => {
      const li = el("li");
      li.appendChild(el("kbd", key));
      li.appendChild(document.createTextNode(" " + what));
      keys.appendChild(li);
    });
  }

  function render(s) {
    state = s;
    const done = s.labelled;
    $("count").textContent = done + " of " + s.total + " labelled" + (s.skipped ? " · " + s.skipped + " skipped" : "");
    $("bar-fill").style.width = (s.total ? (100 * done / s.total) : 0) + "%";
    $("undo").disabled = !s.can_undo;
    const pair = s.pair;
    $("pair").hidden = !pair;
    $("done").hidden = !!pair;
    if (!pair) return;
    $("pair").dataset.item = String(pair.item);
    $("query").textContent = pair.query;
    $("guideline").textContent = pair.guideline.text;
    const reqs = $("requirements");
    clear(reqs);
    pair.guideline.requirements.forEach((r) => {
      reqs.appendChild(el("li", r.attribute + ": " + r.value + (r.importance ? " (" + r.importance + ")" : ""), r.importance === "must" ? "must" : ""));
    });
    const p = pair.product;
    $("doc-id").textContent = p.doc_id;
    $("title").textContent = p.title;
    const facts = $("facts");
    clear(facts);
    const rows = [["brand", p.brand], ["color", p.color], ["category", p.category], ["price", p.price]];
    Object.keys(pair.attributes).sort().forEach((k) => rows.push([k, pair.attributes[k]]));
    rows.forEach(([k, v]) => {
      if (v === "" || v === null || v === undefined) return;
      facts.appendChild(el("dt", k));
      facts.appendChild(el("dd", v));
    });
    $("description").textContent = p.description;
    const img = $("image");
    img.hidden = !pair.has_image;
    $("no-image").hidden = !!pair.has_image;
    if (pair.has_image) {
      img.style.visibility = "hidden";  // never show the previous pair's image while this one loads
      img.onload = () => { img.style.visibility = ""; };
      img.src = "img/" + encodeURIComponent(String(pair.item));
    } else img.removeAttribute("src");
    const judges = $("judges");
    clear(judges);
    judges.hidden = !pair.judges;
    if (pair.judges) {
      judges.appendChild(el("span", "judges: "));
      Object.keys(pair.judges).sort().forEach((k) => judges.appendChild(el("span", k + " → " + pair.judges[k] + "  ")));
    }
    $("note").value = "";
  }

  function give(label) {
    if (!state || !state.pair) return;
    act("api/label", {item: state.pair.item, label: label, note: $("note").value});
  }

  function skip() { if (state && state.pair) act("api/skip", {item: state.pair.item}); }
  function undo() { if (state && state.can_undo) act("api/undo", {}); }
  function toggleHelp() { $("help").hidden = !$("help").hidden; }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target === $("note")) {
      if (event.key === "Escape" || event.key === "Enter") $("note").blur();
      return;
    }
    const label = scheme.find((l) => l.key === event.key);
    if (label) { event.preventDefault(); give(label.name); return; }
    if (event.key === "s") { event.preventDefault(); skip(); }
    else if (event.key === "u") { event.preventDefault(); undo(); }
    else if (event.key === "n") { event.preventDefault(); $("note").focus(); }
    else if (event.key === "?") { event.preventDefault(); toggleHelp(); }
    else if (event.key === "Escape") { $("help").hidden = true; }
  });
  $("skip").addEventListener("click", skip);
  $("undo").addEventListener("click", undo);
  $("help-button").addEventListener("click", toggleHelp);

  renderLabels();
  call("api/state").then(render).catch((e) => showError(String(e.message || e)));
})();
