// Column profiles, facets and type overrides in the app, without a browser: views with facets
// and types (views.js) and as the API's queries (api.js), the strips, the column menu and the
// facet chips as a person reads them (model.js), and the state that keeps profiles and the
// menu's values (state.js).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { fetchFacetValues, fetchProfiles, viewQuery } from "../../src/tablecast/static/api.js";
import * as model from "../../src/tablecast/static/model.js";
import * as change from "../../src/tablecast/static/state.js";
import { state } from "../../src/tablecast/static/state.js";
import {
  PLAIN,
  describeView,
  isPlain,
  isSearch,
  rowsKey,
  sameView,
  withFacet,
  withType,
  withoutFacets,
} from "../../src/tablecast/static/views.js";

const COLUMNS = ["name", "city", "amount", "when"];

function page(fields = {}) {
  return {
    id: "d",
    version: 3,
    page_no: 1,
    page_count: 9,
    columns: COLUMNS,
    has_header: true,
    shared: true,
    view: { ...PLAIN, by: null },
    types: null,
    ...fields,
  };
}

function histogram(counts, from = 0, width = 10) {
  return counts.map((count, i) => ({ from: from + i * width, to: from + (i + 1) * width, count }));
}

const AMOUNT = {
  column: 2,
  name: "amount",
  type: "decimal",
  inferred: "decimal",
  count: 812,
  values: 800,
  missing: 12,
  invalid: 0,
  distinct: 57,
  min: "-5",
  max: "1,234.5",
  mean: 17.25,
  top: [{ value: "1,200", count: 3 }],
  histogram: histogram([...Array(20).keys()].map((i) => (i === 4 ? 40 : i))),
};

const CITY = {
  column: 1,
  name: "city",
  type: "text",
  inferred: "text",
  count: 812,
  values: 800,
  missing: 12,
  invalid: 0,
  distinct: 3,
  min: null,
  max: null,
  mean: null,
  top: [
    { value: "paris", count: 120 },
    { value: "oslo", count: 60 },
    { value: "", count: 30 },
  ],
  histogram: null,
};

describe("views with facets and types", () => {
  test("a facet value picked, picked again: gone; values kept sorted", () => {
    let view = { ...PLAIN };
    view = { ...view, ...withFacet(view, 1, "paris") };
    view = { ...view, ...withFacet(view, 1, "oslo") };
    assert.deepEqual(view.facets, { 1: ["oslo", "paris"] });
    view = { ...view, ...withFacet(view, 1, "paris") };
    view = { ...view, ...withFacet(view, 1, "oslo") };
    assert.deepEqual(view.facets, {}); // a column without values is no facet
    assert.deepEqual(withoutFacets(), { facets: {} });
  });

  test("facets keep some rows; a type override alone keeps all but is not the plain view", () => {
    assert.equal(isSearch({ ...PLAIN, facets: { 1: ["paris"] } }), true);
    const typed = { ...PLAIN, types: { 2: "integer" } };
    assert.equal(isSearch(typed), false);
    assert.equal(isPlain(typed), false);
    // a view from a server that does not know facets or types yet
    const { facets, types, ...older } = PLAIN;
    assert.equal(isPlain(older), true);
    assert.equal(sameView(older, PLAIN), true);
  });

  test("the type a column is inferred as is no override", () => {
    assert.deepEqual(withType(PLAIN, 2, "integer", "decimal"), { types: { 2: "integer" } });
    assert.deepEqual(withType({ ...PLAIN, types: { 2: "integer" } }, 2, "decimal", "decimal"), { types: {} });
    assert.deepEqual(withType({ ...PLAIN, types: { 2: "integer" } }, 2, null, "decimal"), { types: {} });
  });

  test("the same rows whatever the order facets were picked in, the sort or the page", () => {
    const a = { ...PLAIN, facets: { 1: ["paris", "oslo"], 0: ["Ada"] } };
    const b = { ...PLAIN, facets: { 0: ["Ada"], 1: ["oslo", "paris"] }, sort: 2, order: "desc" };
    assert.equal(rowsKey(a), rowsKey(b));
    assert.equal(sameView(a, b), false); // sorted otherwise
    assert.equal(sameView(a, { ...b, sort: null }), true);
    assert.notEqual(rowsKey(a), rowsKey({ ...a, types: { 2: "integer" } }));
    assert.notEqual(rowsKey(a), rowsKey({ ...a, q: "x" }));
  });

  test("facets and types in words, in the view bar and the group's note", () => {
    const view = { ...PLAIN, facets: { 1: ["paris", "oslo"] }, types: { 2: "integer" } };
    assert.equal(describeView(view, COLUMNS, true), "city is “oslo” or “paris” · amount read as integer");
  });

  test("as the API's query: a facet.N per value, a type.N per override; profiles take no sort", async () => {
    const view = { ...PLAIN, sort: 0, facets: { 1: ["paris", "oslo"], 3: [""] }, types: { 2: "integer" } };
    assert.equal(
      String(viewQuery(view, 3)),
      "sort=0&facet.1=oslo&facet.1=paris&facet.3=&type.2=integer&version=3",
    );
    const asked = [];
    globalThis.fetch = async (url) => {
      asked.push(url);
      return { ok: true, json: async () => ({}) };
    };
    try {
      await fetchProfiles("d", 3, view);
      await fetchFacetValues("d", 3, view, 1, 200);
    } finally {
      delete globalThis.fetch;
    }
    assert.deepEqual(asked, [
      "/parser/api/docs/d/columns?facet.1=oslo&facet.1=paris&facet.3=&type.2=integer&version=3",
      "/parser/api/docs/d/facets/1?facet.1=oslo&facet.1=paris&facet.3=&type.2=integer&version=3&limit=200",
    ]);
  });
});

describe("strips", () => {
  test("profiles are asked for again for other rows, never for a page turn or a sort", () => {
    const first = model.profileKey(page());
    assert.equal(model.profileKey(page({ page_no: 5 })), first);
    assert.equal(model.profileKey(page({ view: { ...PLAIN, sort: 2, order: "desc", by: "Ada" } })), first);
    assert.notEqual(model.profileKey(page({ version: 4 })), first);
    assert.notEqual(model.profileKey(page({ view: { ...PLAIN, q: "ada" } })), first);
    assert.notEqual(model.profileKey(page({ view: { ...PLAIN, facets: { 1: ["oslo"] } } })), first);
    assert.notEqual(model.profileKey(page({ view: { ...PLAIN, types: { 2: "text" } } })), first);
    assert.notEqual(model.profileKey(page({ view: { ...PLAIN, header: false } })), first);
    assert.equal(model.profileKey(page({ version: null })), null); // nothing uploaded yet
  });

  test("a number column's strip is its 20-bin histogram, the fullest bin full height", () => {
    const strip = model.strip(AMOUNT);
    assert.equal(strip.kind, "histogram");
    const bars = strip.path.match(/M[^M]+/g);
    assert.equal(bars.length, 19); // the empty first bin draws nothing
    assert.equal(bars[3], "M20 16h4v-16h-4z"); // bin 4 holds 40: the most
    assert.equal(bars[0], "M5 16h4v-1h-4z"); // 1 of 40 still shows
    assert.equal(strip.title, "amount: 800 values from 0 to 200");
  });

  test("a date column's strip says its range in days", () => {
    const day = 86400;
    const when = { ...AMOUNT, name: "when", type: "date", histogram: histogram(Array(20).fill(1), 19722 * day, day) };
    assert.equal(model.strip(when).title, "when: 800 values from 2023-12-31 to 2024-01-20");
    const at = { ...when, type: "datetime" };
    assert.equal(model.strip(at).title, "when: 800 values from 2023-12-31 00:00 to 2024-01-20 00:00");
  });

  test("a text column's strip is its top values' bars, the empty value named", () => {
    const strip = model.strip(CITY);
    assert.equal(strip.kind, "top");
    assert.equal(strip.path.match(/M[^M]+/g).length, 3);
    assert.ok(strip.path.startsWith("M0 16h32.33v-16h-32.33z"));
    assert.equal(strip.title, "city: paris 120, oslo 60, (empty) 30");
  });

  test("strips of 200 columns are one path each; until profiles come, none", () => {
    const columns = [...Array(200).keys()].map((i) => `c${i}`);
    const wide = page({ columns });
    assert.deepEqual(model.strips({ key: null, columns: null }, wide).strips, Array(200).fill(null));
    const profiles = columns.map((name, column) => ({ ...AMOUNT, name, column }));
    const { strips, stale } = model.strips({ key: model.profileKey(wide), columns: profiles }, wide);
    assert.equal(strips.length, 200);
    assert.ok(strips.every((strip) => strip.kind === "histogram"));
    assert.equal(stale, false);
  });

  test("the strips of the rows shown before stay, dimmed, until the new ones come", () => {
    const before = page();
    const after = page({ view: { ...PLAIN, q: "ada" } });
    const profiles = { key: model.profileKey(before), columns: [CITY] };
    const { strips, stale } = model.strips(profiles, after);
    assert.equal(stale, true);
    assert.equal(strips[1].kind, "top");
    assert.equal(model.profileOf(profiles, after, 1), null); // the menu does not show them
    assert.equal(model.profileOf(profiles, before, 1), CITY);
  });
});

describe("the column menu", () => {
  const menu = (fields = {}) => ({ column: 1, limit: 50, asked: null, key: null, values: null, failed: false, ...fields });
  const values = {
    column: 1,
    name: "city",
    total_number: 812,
    values: [
      { value: "paris", count: 120, selected: true },
      { value: "oslo", count: 60, selected: false },
      { value: "", count: 30, selected: false },
    ],
    distinct: 57,
    others: 14,
  };

  test("the full profile, as rows", () => {
    assert.deepEqual(model.profileRows(AMOUNT), [
      ["Type", "decimal"],
      ["Rows", "812"],
      ["Values", "800"],
      ["Missing", "12"],
      ["Distinct", "57"],
      ["Min", "-5"],
      ["Max", "1,234.5"],
      ["Mean", "17.25"],
    ]);
    const overridden = { ...AMOUNT, type: "integer", invalid: 3, mean: 1 / 3 };
    const rows = model.profileRows(overridden);
    assert.deepEqual(rows[0], ["Type", "integer (inferred decimal)"]);
    assert.deepEqual(rows[4], ["Not read as integer", "3"]);
    assert.deepEqual(rows.at(-1), ["Mean", "0.3333"]);
  });

  test("values picked are as the view shown says; more is offered while rows have others", () => {
    const shown = page({ view: { ...PLAIN, facets: { 1: ["oslo", "lima"] } } });
    const m = model.columnMenu(menu({ values }), shown, CITY);
    assert.equal(m.title, "city");
    assert.deepEqual(
      m.values.map((v) => [v.text, v.count, v.selected]),
      [["paris", "120", false], ["oslo", "60", true], ["(empty)", "30", false], ["lima", "", true]],
    );
    assert.equal(m.more, true);
    assert.equal(m.note, "57 distinct values; 14 rows have others");
    assert.equal(m.top, "paris 120 · oslo 60 · (empty) 30");
    const unique = { ...AMOUNT, values: 57, distinct: 57 };
    assert.equal(model.columnMenu(menu({ column: 2 }), shown, unique).top, "every value is different");
    assert.equal(model.columnMenu(menu({ values, limit: 1000 }), shown, CITY).more, false);
    assert.ok(m.values.every((v) => !v.disabled));
    const long = { ...values, values: [{ value: "x".repeat(201), count: 1 }] };
    assert.equal(model.columnMenu(menu({ values: long }), shown, CITY).values[0].disabled, true);
    assert.equal(model.columnMenu(menu({ values: { ...values, others: 0 } }), shown, CITY).more, false);
  });

  test("before its profile and values come, and when they cannot", () => {
    const m = model.columnMenu(menu(), page(), null);
    assert.equal(m.loading, true);
    assert.equal(m.note, "Loading values…");
    assert.equal(m.type.options[0].text, "as inferred");
    assert.equal(model.columnMenu(menu({ failed: true }), page(), null).note, "The values could not be counted.");
  });

  test("the type select: as inferred, or one of the six; an override is selected", () => {
    const shown = page({ view: { ...PLAIN, types: { 2: "integer" } } });
    const m = model.columnMenu(menu({ column: 2 }), shown, AMOUNT);
    assert.deepEqual(
      m.type.options.map((o) => o.value),
      ["", "text", "integer", "decimal", "date", "datetime", "boolean"],
    );
    assert.equal(m.type.options[0].text, "as inferred (decimal)");
    assert.equal(m.type.value, "integer");
    assert.equal(model.columnMenu(menu({ column: 2 }), page(), AMOUNT).type.value, "");
    assert.equal(m.sorted, null);
    assert.equal(model.columnMenu(menu({ column: 2 }), page({ view: { ...PLAIN, sort: 2, order: "desc" } }), AMOUNT).sorted, "desc");
  });

  test("what the view is changing to, in words", () => {
    assert.equal(model.describeChange(PLAIN, { ...PLAIN, facets: { 1: ["x"] } }, COLUMNS), "Picking rows by value…");
    assert.equal(model.describeChange({ ...PLAIN, facets: { 1: ["x"] } }, PLAIN, COLUMNS), "Showing every value…");
    assert.equal(model.describeChange(PLAIN, { ...PLAIN, types: { 2: "integer" } }, COLUMNS), "Reading amount as integer…");
    assert.equal(model.describeChange({ ...PLAIN, types: { 2: "integer" } }, PLAIN, COLUMNS), "Reading amount as inferred…");
  });
});

describe("facet chips", () => {
  const people = (fields = {}) => ({ follow: true, old: null, name: "Ada", edit: true, ...fields });
  const faceted = (by, fields = {}) =>
    page({ view: { ...PLAIN, facets: { 1: ["paris", ""], 0: ["Ada"] }, by }, ...fields });

  test("a chip per value, in column order; none without facets", () => {
    const chips = model.facetChips(people(), faceted("Grace"));
    assert.deepEqual(
      chips.chips.map((chip) => [chip.text, chip.label]),
      [
        ["name = Ada", "Remove name = Ada"],
        ["city = (empty)", "Remove city = (empty)"],
        ["city = paris", "Remove city = paris"],
      ],
    );
    assert.deepEqual([chips.chips[1].column, chips.chips[1].value], [1, ""]);
    assert.equal(model.facetChips(people(), page()), null);
  });

  test("the group's facets say who set them; clearing them is for everyone only for an editor", () => {
    assert.equal(model.facetChips(people(), faceted("Grace")).by, "set by Grace");
    assert.equal(model.facetChips(people(), faceted("Ada")).by, "set by you");
    assert.equal(model.facetChips(people(), faceted("Grace")).clearText, "Clear all for everyone");
    assert.equal(model.facetChips(people({ edit: false }), faceted("Grace")).clearText, "Clear all");
    // one's own facets: nobody to name
    const own = model.facetChips(people({ follow: false }), faceted("Ada", { shared: false }));
    assert.deepEqual([own.by, own.clearText], ["", "Clear all"]);
  });
});

describe("state", () => {
  test("only the profiles of the rows asked for last are kept", () => {
    change.profilesAsked("a");
    change.profilesAsked("b");
    assert.equal(change.profilesArrived("a", { columns: [CITY], total_number: 1 }), false);
    assert.equal(state.profiles.columns, null);
    assert.equal(change.profilesArrived("b", { columns: [CITY], total_number: 812 }), true);
    assert.deepEqual(state.profiles, {
      asked: "b",
      key: "b",
      columns: [CITY],
      total: 812,
      ranges: new Set([0]),
    });
    change.profilesAsked("c"); // the strips of "b" stay until "c" comes
    assert.equal(state.profiles.key, "b");
    assert.deepEqual(state.profiles.ranges, new Set([0])); // (c's: b's are no more)
    assert.equal(change.profilesArrived("c", null), true); // could not be had: no strips
    assert.equal(state.profiles.columns, null);
  });

  test("a wide table's ranges of profiles are kept together, whichever comes first", () => {
    const at = (column) => ({ ...CITY, column });
    change.profilesAsked("w");
    change.profilesAsked("w", 200);
    change.profilesAsked("w", 400);
    assert.deepEqual(state.profiles.ranges, new Set([0, 200, 400]));
    assert.equal(change.profilesArrived("w", { columns: [at(200)], total_number: 9 }, 200), true);
    assert.equal(change.profilesArrived("w", { columns: [at(0)], total_number: 9 }, 0), true);
    assert.equal(change.profilesArrived("w", null, 400), true); // asked again when in sight
    assert.deepEqual(state.profiles.columns.map((p) => p.column).sort(), [0, 200]);
    assert.deepEqual(state.profiles.ranges, new Set([0, 200]));
    change.profilesAsked("v"); // other rows: a late range of w's is not theirs
    assert.equal(change.profilesArrived("w", { columns: [at(400)], total_number: 9 }, 400), false);
    assert.equal(change.profilesArrived("v", { columns: [at(0)], total_number: 3 }), true);
    assert.deepEqual(state.profiles.columns, [at(0)]);
  });

  test("the menu's values: more asked four times as many up to 1000; a closed menu's ignored", () => {
    change.menuOpened(2);
    const { menu } = state;
    assert.equal(menu.limit, 50);
    for (const limit of [200, 800, 1000, 1000]) {
      change.moreFacetValues();
      assert.equal(menu.limit, limit);
    }
    assert.equal(change.facetValuesArrived(menu, "k", { values: [] }), true);
    change.menuClosed();
    assert.equal(change.facetValuesArrived(menu, "k", { values: [] }), false);
    assert.equal(state.menu, null);
  });

  test("a page read with a type override does not stand for its version's types", () => {
    change.pageArrived({ version: 7, has_header: true, view: { ...PLAIN }, types: ["text", "decimal"] });
    change.pageArrived({ version: 7, has_header: true, view: { ...PLAIN, types: { 1: "text" } }, types: ["text", "text"] });
    assert.deepEqual(state.types.get("7:true"), ["text", "decimal"]);
    // the page itself is aligned by its own
    const shown = { version: 7, has_header: true, types: ["text", "text"] };
    assert.deepEqual(model.typesOf(state, shown), ["text", "text"]);
    assert.deepEqual(model.typesOf(state, { ...shown, types: null }), ["text", "decimal"]);
  });
});
