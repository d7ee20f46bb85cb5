/* ViewerAtlas interactive map: sigma.js (WebGL) over a graphology graph.
 *
 * Every string in the data is untrusted: it only ever reaches the page through
 * textContent (DOM) or sigma's canvas labels, never through innerHTML. The data comes from
 * the inert <script type="application/json" id="atlas-data"> block.
 */
(function () {
  "use strict";

  var t0 = performance.now();
  var timings = {};
  var data = JSON.parse(document.getElementById("atlas-data").textContent);
  timings.parse = performance.now() - t0;
  var N = data.nodes;
  var E = data.edges;
  var n = N.key.length;
  var m = E.s.length;
  var comms = data.communities;
  var colourOf = {};
  var labelOf = {};
  comms.forEach(function (c) {
    colourOf[c.id] = c.color;
    labelOf[c.id] = c.label;
  });
  var GREY = data.unclustered_color;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function fmt(v) {
    return Number(v).toLocaleString("en-US");
  }
  // Sigma blends with (ONE, ONE_MINUS_SRC_ALPHA), i.e. it expects premultiplied colours:
  // without this, thousands of translucent edges add up to washed-out neon.
  function rgba(hex, alpha) {
    var r = Math.round(parseInt(hex.slice(1, 3), 16) * alpha);
    var g = Math.round(parseInt(hex.slice(3, 5), 16) * alpha);
    var b = Math.round(parseInt(hex.slice(5, 7), 16) * alpha);
    return "rgba(" + r + "," + g + "," + b + "," + alpha + ")";
  }

  // ---- graph -------------------------------------------------------------------------
  var graph = new graphology.UndirectedGraph();
  var vmax = 1;
  for (var i = 0; i < n; i++) vmax = Math.max(vmax, N.viewers[i]);
  // Biggest node ~14 px on a small map, ~4 px at 5,000 nodes, so islands keep their texture.
  var maxSize = Math.max(3.5, Math.min(14, 300 / Math.sqrt(Math.max(n, 1))));
  for (i = 0; i < n; i++) {
    var c = N.community[i];
    graph.addNode(String(i), {
      x: N.x[i],
      y: N.y[i],
      size: 0.8 + maxSize * Math.sqrt(N.viewers[i] / vmax),
      color: c >= 0 && colourOf[c] ? colourOf[c] : GREY,
      label: N.label[i] || N.key[i],
      community: c,
      zIndex: 1,
    });
  }
  var wmax = 0;
  for (var e = 0; e < m; e++) wmax = Math.max(wmax, E.w[e]);
  wmax = wmax || 1;
  for (e = 0; e < m; e++) {
    var a = E.s[e];
    var b = E.t[e];
    var same = N.community[a] === N.community[b] && N.community[a] >= 0;
    var rel = E.w[e] / wmax;
    graph.addEdgeWithKey(String(e), String(a), String(b), {
      size: 0.3 + 1.7 * rel,
      color: same ? rgba(colourOf[N.community[a]], 0.1 + 0.3 * rel) : rgba("#8c8c8c", 0.1),
      weight: E.w[e],
    });
  }

  timings.graph = performance.now() - t0 - timings.parse;

  // ---- state -------------------------------------------------------------------------
  var state = {
    hiddenCommunities: new Set(),
    minWeight: -Infinity,
    selected: null,
    neighbours: null,
    closest: null,
  };
  function communityHidden(node) {
    return state.hiddenCommunities.has(N.community[node]);
  }

  var container = document.getElementById("graph");
  var renderer = new Sigma(graph, container, {
    hideEdgesOnMove: m > 20000,
    labelRenderedSizeThreshold: 7,
    labelDensity: 0.6,
    labelFont: "system-ui, sans-serif",
    zIndex: true,
    minCameraRatio: 0.02,
    maxCameraRatio: 4,
    nodeReducer: function (key, attrs) {
      var idx = +key;
      var out = Object.assign({}, attrs);
      if (communityHidden(idx)) {
        out.hidden = true;
        return out;
      }
      if (state.selected !== null) {
        if (idx === state.selected) {
          out.highlighted = true;
          out.forceLabel = true;
          out.size = Math.max(attrs.size, 8);
          out.zIndex = 3;
        } else if (state.neighbours.has(idx)) {
          out.zIndex = 2;
          out.size = Math.max(attrs.size, 3);
          // The channels it shares the most viewers with are always named.
          if (state.closest.has(idx)) out.forceLabel = true;
        } else {
          out.color = rgba("#c8c8c8", 0.35);
          out.label = "";
          out.zIndex = 0;
        }
      }
      return out;
    },
    edgeReducer: function (key, attrs) {
      var idx = +key;
      var a = E.s[idx];
      var b = E.t[idx];
      var out = Object.assign({}, attrs);
      if (
        E.w[idx] < state.minWeight ||
        communityHidden(a) ||
        communityHidden(b) ||
        (state.selected !== null && a !== state.selected && b !== state.selected)
      ) {
        out.hidden = true;
      } else if (state.selected !== null) {
        out.color = rgba("#3c3c3c", 0.55);
      }
      return out;
    },
  });

  timings.sigma = performance.now() - t0 - timings.parse - timings.graph;

  // ---- tooltip -----------------------------------------------------------------------
  var tooltip = document.getElementById("tooltip");
  function fillTooltip(idx) {
    tooltip.replaceChildren();
    tooltip.appendChild(el("div", "tt-name", N.label[idx] || N.key[idx]));
    if (N.label[idx] && N.label[idx] !== N.key[idx]) tooltip.appendChild(el("div", "tt-key", N.key[idx]));
    var c = N.community[idx];
    var rows = [
      ["viewers", fmt(N.viewers[idx])],
      ["community", c >= 0 ? labelOf[c] || "community " + c : "unclustered"],
      ["game", N.game[idx] || "—"],
      ["language", N.language[idx] || "—"],
    ];
    if (N.confidence && N.confidence[idx] !== null) rows.push(["confidence", N.confidence[idx].toFixed(2)]);
    if (N.bridge && N.bridge[idx]) rows.push(["bridge", "audience tied to 2+ communities"]);
    if (N.title[idx]) rows.push(["title", N.title[idx]]);
    var table = el("table", "tt-rows");
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("th", null, row[0]));
      tr.appendChild(el("td", null, row[1]));
      table.appendChild(tr);
    });
    tooltip.appendChild(table);
    var top = N.top[idx];
    if (top && top.length) {
      tooltip.appendChild(el("div", "tt-head", "most shared viewers with"));
      var list = el("ol", "tt-top");
      for (var k = 0; k < top.length; k += 2) {
        var other = top[k];
        list.appendChild(el("li", null, (N.label[other] || N.key[other]) + " · " + fmt(top[k + 1])));
      }
      tooltip.appendChild(list);
    }
  }
  var tooltipNode = null;
  function showTooltip(idx) {
    if (tooltipNode !== idx) fillTooltip(idx);
    tooltipNode = idx;
    tooltip.hidden = false;
    placeTooltip();
  }
  function placeTooltip() {
    if (tooltipNode === null) return;
    var p = viewportOf(tooltipNode);
    var x = p.x;
    var y = p.y;
    var box = container.getBoundingClientRect();
    var left = Math.min(x + 14, box.width - tooltip.offsetWidth - 8);
    var topPx = Math.min(y + 14, box.height - tooltip.offsetHeight - 8);
    tooltip.style.left = Math.max(4, left) + "px";
    tooltip.style.top = Math.max(4, topPx) + "px";
  }
  function hideTooltip() {
    tooltip.hidden = true;
    tooltipNode = null;
  }
  function viewportOf(idx) {
    var attrs = graph.getNodeAttributes(String(idx));
    return renderer.graphToViewport({ x: attrs.x, y: attrs.y });
  }

  // ---- selection ---------------------------------------------------------------------
  function select(idx, moveCamera) {
    if (idx === null || idx === undefined) {
      state.selected = null;
      state.neighbours = null;
      hideTooltip();
      renderer.refresh({ skipIndexation: true });
      return;
    }
    state.selected = idx;
    state.neighbours = new Set(
      graph.neighbors(String(idx)).map(function (k) {
        return +k;
      })
    );
    state.closest = new Set(
      (N.top[idx] || []).filter(function (v, k) {
        return k % 2 === 0;
      })
    );
    renderer.refresh({ skipIndexation: true });
    if (moveCamera) {
      var display = renderer.getNodeDisplayData(String(idx));
      renderer
        .getCamera()
        .animate({ x: display.x, y: display.y, ratio: 0.45 }, { duration: 400 });
    }
    showTooltip(idx);
  }
  renderer.on("enterNode", function (payload) {
    var idx = +payload.node;
    // With a channel selected, only it and its (lit) neighbours answer the pointer.
    if (state.selected !== null && idx !== state.selected && !state.neighbours.has(idx)) return;
    showTooltip(idx);
    container.classList.add("pointing");
  });
  renderer.on("leaveNode", function () {
    container.classList.remove("pointing");
    if (state.selected === null) hideTooltip();
    else showTooltip(state.selected);
  });
  renderer.on("clickNode", function (payload) {
    select(+payload.node, false);
  });
  renderer.on("clickStage", function () {
    select(null);
  });
  // Keep the tooltip on its node while the camera moves.
  renderer.on("afterRender", placeTooltip);

  // ---- search ------------------------------------------------------------------------
  var search = document.getElementById("search");
  var results = document.getElementById("results");
  var lowerKey = N.key.map(function (k, i) {
    return (k + "\u0000" + (N.label[i] || "")).toLowerCase();
  });
  function findChannels(query) {
    var q = query.trim().toLowerCase();
    if (!q) return [];
    var hits = [];
    for (var i = 0; i < n; i++) {
      var pos = lowerKey[i].indexOf(q);
      if (pos >= 0 && !communityHidden(i)) hits.push([N.key[i] === query.trim() ? -1 : pos, -N.viewers[i], i]);
    }
    hits.sort(function (a, b) {
      return a[0] - b[0] || a[1] - b[1];
    });
    return hits.slice(0, 12).map(function (h) {
      return h[2];
    });
  }
  function showResults() {
    results.replaceChildren();
    findChannels(search.value).forEach(function (idx) {
      var li = el("li");
      var button = el("button", "result", N.label[idx] || N.key[idx]);
      button.type = "button";
      button.dataset.node = String(idx);
      button.appendChild(el("span", "result-sub", " " + fmt(N.viewers[idx])));
      button.addEventListener("click", function () {
        choose(idx);
      });
      li.appendChild(button);
      results.appendChild(li);
    });
    results.hidden = !results.firstChild;
  }
  function choose(idx) {
    results.hidden = true;
    search.value = N.label[idx] || N.key[idx];
    select(idx, true);
  }
  search.addEventListener("input", showResults);
  search.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      var hits = findChannels(search.value);
      if (hits.length) choose(hits[0]);
    } else if (event.key === "Escape") {
      results.hidden = true;
    }
  });

  // ---- legend ------------------------------------------------------------------------
  var legend = document.getElementById("legend-list");
  function legendRow(id, colour, label, size) {
    var li = el("li");
    var button = el("button", "legend-item");
    button.type = "button";
    button.dataset.community = String(id);
    button.setAttribute("aria-pressed", "true");
    var swatch = el("span", "swatch");
    swatch.style.backgroundColor = colour;
    button.appendChild(swatch);
    button.appendChild(el("span", "legend-label", label));
    button.appendChild(el("span", "legend-size", fmt(size)));
    button.title = "click: hide / show · double-click: show only this community";
    button.addEventListener("click", function () {
      toggleCommunity(id);
    });
    button.addEventListener("dblclick", function () {
      soloCommunity(id);
    });
    li.appendChild(button);
    legend.appendChild(li);
  }
  comms.forEach(function (c) {
    legendRow(c.id, c.color, c.label, c.size);
  });
  var unclustered = 0;
  for (i = 0; i < n; i++) if (N.community[i] < 0) unclustered++;
  if (unclustered) legendRow(-1, GREY, "unclustered", unclustered);
  function syncLegend() {
    legend.querySelectorAll("button.legend-item").forEach(function (b) {
      var off = state.hiddenCommunities.has(+b.dataset.community);
      b.setAttribute("aria-pressed", off ? "false" : "true");
    });
    if (state.selected !== null && communityHidden(state.selected)) select(null);
    renderer.refresh();
  }
  function soloCommunity(id) {
    state.hiddenCommunities.clear();
    comms.forEach(function (c) {
      if (c.id !== id) state.hiddenCommunities.add(c.id);
    });
    if (id !== -1) state.hiddenCommunities.add(-1);
    syncLegend();
  }
  function toggleCommunity(id) {
    if (state.hiddenCommunities.has(id)) state.hiddenCommunities.delete(id);
    else state.hiddenCommunities.add(id);
    syncLegend();
  }
  document.getElementById("legend-all").addEventListener("click", function () {
    state.hiddenCommunities.clear();
    syncLegend();
  });
  document.getElementById("legend-none").addEventListener("click", function () {
    comms.forEach(function (c) {
      state.hiddenCommunities.add(c.id);
    });
    state.hiddenCommunities.add(-1);
    syncLegend();
  });

  // ---- edge weight slider ------------------------------------------------------------
  var slider = document.getElementById("weight");
  var sliderText = document.getElementById("weight-value");
  var sorted = Float64Array.from(E.w).sort();
  function applySlider() {
    var pct = +slider.value;
    if (pct <= 0 || m === 0) {
      state.minWeight = -Infinity;
      sliderText.textContent = "all " + fmt(m) + " links";
    } else {
      var at = Math.min(m - 1, Math.floor((pct / 100) * m));
      state.minWeight = sorted[at];
      sliderText.textContent = fmt(m - at) + " strongest links (weight ≥ " + sorted[at].toPrecision(3) + ")";
    }
    renderer.refresh({ skipIndexation: true });
  }
  slider.addEventListener("input", applySlider);
  applySlider();

  document.getElementById("reset").addEventListener("click", function () {
    select(null);
    renderer.getCamera().animatedReset({ duration: 300 });
  });

  // A small, stable hook for tests and for people poking at the page from the console.
  window.atlas = {
    graph: graph,
    renderer: renderer,
    find: function (key) {
      var i = N.key.indexOf(key);
      return i < 0 ? null : i;
    },
    viewportOf: viewportOf,
    select: function (idx) {
      select(idx, true);
    },
    state: state,
    timings: timings, // milliseconds per start-up stage
  };
  document.body.dataset.ready = "true";
})();
