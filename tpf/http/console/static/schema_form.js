// A form generated from a JSON Schema (what msgspec.json.schema produces for the await's output
// type): objects, strings, numbers, integers, booleans, enums, arrays, $ref/$defs, and
// anyOf/oneOf (a tagged union, or an optional value) as a choice of variants. Each field knows
// its JSON path ("accepted.orderId", "items[0]"), so the server's 400 naming a field
// ("responsePayload.accepted.orderId: ...") is shown next to that field.

import { h } from "./dom.js";

let counter = 0;

function resolve(schema, root) {
  let seen = 0;
  while (schema && schema.$ref && seen++ < 32) {
    const name = schema.$ref.replace(/^#\/(\$defs|definitions|components\/schemas)\//, "");
    const defs = root.$defs || root.definitions || {};
    schema = { ...defs[name], ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== "$ref")) };
  }
  return schema || {};
}

function join(path, key) {
  return path ? `${path}.${key}` : key;
}

function humanize(name) {
  return String(name)
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/[_-]+/g, " ")
    .replace(/^./, (c) => c.toUpperCase());
}

function variantLabel(variant, root, index) {
  const resolved = resolve(variant, root);
  if (resolved.type === "null") return "none";
  if (resolved.title) return resolved.title;
  if (variant.$ref) return variant.$ref.split("/").pop();
  if (resolved.enum && resolved.enum.length === 1) return String(resolved.enum[0]);
  return resolved.type ? String(resolved.type) : `option ${index + 1}`;
}

// The field's wrapper: label, control, description and the error slot.
function field(path, label, control, schema, required) {
  const id = control.id;
  const errorId = `${id}-error`;
  const hint = schema.description ? h("p", { class: "hint", id: `${id}-hint` }, schema.description) : null;
  const described = [hint ? `${id}-hint` : null, errorId].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  if (required) control.setAttribute("aria-required", "true");
  return h(
    "div",
    { class: "field", "data-path": path },
    h("label", { for: id }, label, required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
    control,
    hint,
    h("p", { class: "field-error", id: errorId, hidden: true }),
  );
}

function newId(path) {
  counter += 1;
  return `f${counter}-${(path || "root").replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

function scalar(schema, path, label, required) {
  const id = newId(path);
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (schema.enum) {
    if (schema.enum.length === 1) {
      // A tagged union's tag: fixed by the variant chosen, shown but not edited.
      const fixed = schema.enum[0];
      const el = h("output", { id, class: "const" }, JSON.stringify(fixed));
      return { el: field(path, label, el, schema, false), get: () => fixed };
    }
    const select = h(
      "select",
      { id, name: path },
      required ? null : h("option", { value: "" }, "(not set)"),
      schema.enum.map((v, i) => h("option", { value: String(i) }, String(v))),
    );
    return {
      el: field(path, label, select, schema, required),
      get: () => (select.value === "" ? undefined : schema.enum[Number(select.value)]),
    };
  }
  if (type === "boolean") {
    const box = h("input", { id, name: path, type: "checkbox" });
    if (schema.default === true) box.checked = true;
    return { el: field(path, label, box, schema, false), get: () => box.checked };
  }
  if (type === "integer" || type === "number") {
    const input = h("input", {
      id,
      name: path,
      type: "number",
      step: type === "integer" ? "1" : "any",
      min: schema.minimum,
      max: schema.maximum,
    });
    return {
      el: field(path, label, input, schema, required),
      get: () => {
        if (input.value.trim() === "") return undefined; // left out: the server names it if required
        const n = Number(input.value);
        return Number.isNaN(n) ? input.value : n;
      },
    };
  }
  if (type === "string") {
    const input = h("input", {
      id,
      name: path,
      type: "text",
      placeholder: schema.format ? schema.format : undefined,
      autocomplete: "off",
    });
    if (typeof schema.default === "string") input.value = schema.default;
    return {
      el: field(path, label, input, schema, required),
      // A string left blank is left out: the server names a required one as missing, next
      // to this field.
      get: () => (input.value === "" ? undefined : input.value),
    };
  }
  // No type the form knows (Any, a free-form map): JSON text.
  const area = h("textarea", { id, name: path, rows: "3", placeholder: "JSON" });
  return {
    el: field(path, label, area, schema, required),
    get: () => {
      if (area.value.trim() === "") return undefined;
      try {
        return JSON.parse(area.value);
      } catch {
        return area.value;
      }
    },
  };
}

function object(schema, root, path, label, required) {
  const props = schema.properties || {};
  const req = new Set(schema.required || []);
  const children = Object.entries(props).map(([name, sub]) => ({
    name,
    node: node(sub, root, join(path, name), humanize(name), req.has(name)),
  }));
  const el = h(
    "fieldset",
    { class: "object", "data-path": path },
    h("legend", {}, label || schema.title || "Response"),
    children.map((c) => c.node.el),
    h("p", { class: "field-error", hidden: true }),
  );
  return {
    el,
    get: () => {
      const value = {};
      for (const { name, node: child } of children) {
        const v = child.get();
        if (v !== undefined) value[name] = v;
      }
      return value;
    },
  };
}

function array(schema, root, path, label, required) {
  const items = [];
  const list = h("ol", { class: "array-items" });
  const id = newId(path);
  const add = h("button", { type: "button", id, class: "small" }, `Add ${label ? label.toLowerCase() : "item"}`);
  const el = h(
    "fieldset",
    { class: "array", "data-path": path },
    h("legend", {}, label || "Items"),
    list,
    add,
    h("p", { class: "field-error", hidden: true }),
  );
  function renumber() {
    items.forEach((item, i) => item.li.setAttribute("aria-label", `${label || "item"} ${i + 1}`));
  }
  add.addEventListener("click", () => {
    const index = items.length;
    const child = node(schema.items || {}, root, `${path}[${index}]`, `Item ${index + 1}`, true);
    const remove = h("button", { type: "button", class: "small" }, "Remove");
    const li = h("li", {}, child.el, remove);
    const item = { li, child };
    remove.addEventListener("click", () => {
      items.splice(items.indexOf(item), 1);
      li.remove();
      renumber();
      add.focus();
    });
    items.push(item);
    list.append(li);
    renumber();
    const first = li.querySelector("input, select, textarea, button");
    if (first) first.focus();
  });
  return { el, get: () => (items.length || required ? items.map((i) => i.child.get()) : undefined) };
}

function choice(schema, root, path, label, required) {
  const variants = schema.anyOf || schema.oneOf;
  const id = newId(path);
  const select = h(
    "select",
    { id, name: `${path}#variant`, "data-variant-of": path },
    variants.map((v, i) => h("option", { value: String(i) }, variantLabel(v, root, i))),
  );
  const nullIndex = variants.findIndex((v) => resolve(v, root).type === "null");
  const body = h("div", { class: "variant-body" });
  let current = null;
  function show() {
    const chosen = variants[Number(select.value)];
    const resolved = resolve(chosen, root);
    current = resolved.type === "null" ? null : node(chosen, root, path, label, true);
    body.replaceChildren(...(current ? [current.el] : []));
  }
  // An optional value starts unset; a union starts at its first variant.
  select.value = String(nullIndex >= 0 && !required ? nullIndex : 0);
  select.addEventListener("change", show);
  show();
  const el = h(
    "div",
    { class: "choice", "data-path": path },
    field(path, `${label || "Value"}: kind`, select, schema, required),
    body,
  );
  return { el, get: () => (current ? current.get() : nullIndex >= 0 ? null : undefined) };
}

function node(schema, root, path, label, required) {
  const resolved = resolve(schema, root);
  const variants = resolved.anyOf || resolved.oneOf;
  if (variants) {
    // "X or null" with a plain X is an optional X: a blank field, not a choice of kinds.
    const others = variants.filter((v) => resolve(v, root).type !== "null");
    if (others.length === 1 && others.length < variants.length) {
      const only = resolve(others[0], root);
      if (!only.anyOf && !only.oneOf && only.type !== "object" && only.type !== "array" && !only.properties) {
        return scalar({ ...only, description: resolved.description || only.description }, path, label, false);
      }
    }
    return choice(resolved, root, path, label, required);
  }
  const type = Array.isArray(resolved.type) ? resolved.type.find((t) => t !== "null") : resolved.type;
  if (type === "object" || resolved.properties) return object(resolved, root, path, label, required);
  if (type === "array") return array(resolved, root, path, label, required);
  return scalar(resolved, path, label, required);
}

// The form of ``schema``: its element, the value it holds, and inline errors by JSON path.
export function schemaForm(schema) {
  const root = node(schema || {}, schema || {}, "", (schema && schema.title) || "Response", true);
  const el = root.el;
  function clearErrors() {
    for (const p of el.querySelectorAll(".field-error")) {
      p.hidden = true;
      p.textContent = "";
    }
    for (const c of el.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
  }
  // Shows ``message`` at the field ``path`` names, or at its nearest enclosing one; returns
  // the control to focus.
  function showError(path, message) {
    let target = path;
    while (true) {
      const holders = [el, ...el.querySelectorAll("[data-path]")];
      const holder = holders.find(
        (n) => n.dataset.path === target && n.querySelector(":scope > .field-error"),
      );
      if (holder) {
        const slot = holder.querySelector(":scope > .field-error");
        if (slot) {
          slot.textContent = message;
          slot.hidden = false;
        }
        const control = holder.querySelector(":scope > input, :scope > select, :scope > textarea, :scope > output, :scope > button");
        if (control) control.setAttribute("aria-invalid", "true");
        return control || holder.querySelector("input, select, textarea, button");
      }
      if (target === "") return null;
      const cut = Math.max(target.lastIndexOf("."), target.lastIndexOf("["));
      target = cut > 0 ? target.slice(0, cut) : "";
    }
  }
  return { el, value: () => root.get(), clearErrors, showError };
}
