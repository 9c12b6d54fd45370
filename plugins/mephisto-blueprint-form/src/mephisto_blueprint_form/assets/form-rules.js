/*
 * form-rules.js: the page's reading of validators.json, the table that says how a form field's answer is checked.
 *
 * The server reads the same table in mephisto_blueprint_form/rules.py, step for step (shape, empty, format,
 * validators); the shared test vectors run through both. Dependency-free ES2017; exposes window.FormRules:
 *
 *   const rules = FormRules.create(table);
 *   rules.fieldMessages(fieldConfig, value)   // -> ["This field is required."] or []
 *   rules.kindOf(fieldConfig)                 // "text", "number", "choice", "choices", "files" or "fixed"
 */
(function (global) {
  "use strict";

  function create(table) {
    const whitespace = new Set(Array.from(table.whitespace));
    const regexpCache = new Map();

    function kindOf(field) {
      const spec = table.field_types[field.type];
      if (field.multiple === true && spec.kind_if_multiple) {
        return spec.kind_if_multiple;
      }
      return spec.kind;
    }

    function trim(text) {
      const chars = Array.from(text);
      let start = 0;
      let end = chars.length;
      while (start < end && whitespace.has(chars[start])) {
        start += 1;
      }
      while (end > start && whitespace.has(chars[end - 1])) {
        end -= 1;
      }
      return chars.slice(start, end).join("");
    }

    function regexpSpec(argument) {
      if (typeof argument === "string") {
        return [argument, table.default_regexp_flags];
      }
      return [argument[0], argument.length > 1 ? argument[1] : table.default_regexp_flags];
    }

    /** The pattern as the server reads it: Unicode mode always, `g` dropped (test() must not keep state). */
    function compile(spec) {
      const key = spec[1] + "/" + spec[0];
      if (!regexpCache.has(key)) {
        let flags = spec[1].replace("g", "");
        if (flags.indexOf("u") < 0) {
          flags += "u";
        }
        regexpCache.set(key, new RegExp(spec[0], flags));
      }
      return regexpCache.get(key);
    }

    function formatNumber(value) {
      return String(value);
    }

    function extensionOf(name) {
      const base = name.replace(/\\/g, "/").split("/").pop();
      const dot = base.lastIndexOf(".");
      return dot > 0 ? base.slice(dot + 1).toLowerCase() : "";
    }

    function normalExtensions(argument) {
      return argument.map((item) => item.replace(/^\.+/, "").toLowerCase());
    }

    function isEmpty(kind, value) {
      if (kind === "text" || kind === "choice") {
        return value === null || trim(value) === "";
      }
      if (kind === "number") {
        return value === null;
      }
      if (kind === "choices" || kind === "files") {
        return value.length === 0;
      }
      return false;
    }

    function optionValues(field) {
      return (field.options || []).map((option) => option.value);
    }

    function isNumber(value) {
      return typeof value === "number" && isFinite(value);
    }

    function shapeOk(field, kind, value) {
      if (kind === "text") {
        return typeof value === "string";
      }
      if (kind === "number") {
        return value === null || isNumber(value);
      }
      if (kind === "choice") {
        return (
          value === null ||
          (typeof value === "string" && (trim(value) === "" || optionValues(field).indexOf(value) >= 0))
        );
      }
      if (kind === "choices") {
        const options = optionValues(field);
        return (
          Array.isArray(value) &&
          value.every((item) => typeof item === "string" && options.indexOf(item) >= 0) &&
          new Set(value).size === value.length
        );
      }
      if (kind === "files") {
        return Array.isArray(value) && value.every((item) => typeof item === "string" && item !== "");
      }
      return value === (field.value === undefined ? "" : field.value); // fixed
    }

    function size(value) {
      // Characters are code points on both sides (the server's len()), not UTF-16 units.
      return typeof value === "string" ? Array.from(value).length : value.length;
    }

    /** [passes, the {actual} text] for one validator. */
    function check(rule, argument, value) {
      switch (rule.check) {
        case "size_at_least":
          return [size(value) >= argument, String(size(value))];
        case "size_at_most":
          return [size(value) <= argument, String(size(value))];
        case "number_at_least":
          return [value >= argument, formatNumber(value)];
        case "number_at_most":
          return [value <= argument, formatNumber(value)];
        case "matches":
          return [compile(regexpSpec(argument)).test(value), value];
        case "extension_in": {
          const allowed = normalExtensions(argument);
          const wrong = value.map(extensionOf).filter((ext) => allowed.indexOf(ext) < 0);
          const actual = Array.from(new Set(wrong))
            .map((ext) => ext || table.no_extension)
            .join(", ");
          return [wrong.length === 0, actual];
        }
        default:
          throw new Error("validators.json names an unknown check " + rule.check);
      }
    }

    function argumentText(rule, argument) {
      if (rule.argument === "extensions") {
        return normalExtensions(argument).join(", ");
      }
      if (rule.argument === "number") {
        return formatNumber(argument);
      }
      return String(argument);
    }

    function fieldMessages(field, value) {
      const kind = kindOf(field);
      if (!shapeOk(field, kind, value)) {
        return [table.kinds[kind].shape_message];
      }
      if (kind === "fixed") {
        return [];
      }
      const validators = field.validators || {};
      if (isEmpty(kind, value)) {
        const required = table.validators.find((rule) => rule.check === "present");
        return required && validators[required.name] === true ? [required.applies_to[kind]] : [];
      }
      const formatName = table.field_types[field.type].format;
      if (formatName !== undefined) {
        const format = table.formats[formatName];
        if (!compile(regexpSpec(format.regexp)).test(value)) {
          return [format.message];
        }
      }
      const messages = [];
      table.validators.forEach((rule) => {
        if (rule.check === "present" || !(rule.name in validators) || !(kind in rule.applies_to)) {
          return;
        }
        const argument = validators[rule.name];
        const result = check(rule, argument, value);
        if (!result[0]) {
          // split/join, not replace(): a worker's value must never be read as a "$&" replacement pattern.
          let message = rule.applies_to[kind];
          if (rule.check === "matches" && Array.isArray(argument) && argument.length === 3) {
            // [pattern, flags, expected format]: say what is expected, not just that the input is wrong.
            message = table.regexp_described_message.split("{format}").join(argument[2]);
          }
          const template = message.split("{value}").join(argumentText(rule, argument));
          messages.push(template.split("{actual}").join(result[1]));
        }
      });
      return messages;
    }

    return {
      kindOf: kindOf,
      trim: trim,
      isEmpty: isEmpty,
      fieldMessages: fieldMessages,
      normalExtensions: normalExtensions,
    };
  }

  global.FormRules = { create: create };
})(typeof window !== "undefined" ? window : globalThis);
