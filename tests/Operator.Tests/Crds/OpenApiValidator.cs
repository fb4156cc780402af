using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Tollgate.Operator.Tests.Crds;

/// <summary>One reason a document does not fit a schema, at the path the API server would name.</summary>
internal sealed record SchemaError(string Path, string Message)
{
    public override string ToString() => $"{Path}: {Message}";
}

/// <summary>
/// Checks a document against a CRD's structural schema as the API server does for the subset the generator emits:
/// defaulting first, null fields pruned unless nullable, then type, properties (unknown fields rejected, as
/// <c>kubectl --validate=strict</c> does), required, enum, pattern, minimum/maximum, lengths, items,
/// additionalProperties, list types, and the CEL rules through their C# mirrors in <see cref="CelMirror"/>.
/// </summary>
internal static class OpenApiValidator
{
    public static IReadOnlyList<SchemaError> Validate(JsonObject schema, JsonNode? document)
    {
        var value = document?.DeepClone();
        value = ApplyDefaults(schema, value);
        var errors = new List<SchemaError>();
        Check(schema, value, string.Empty, errors);
        return errors;
    }

    /// <summary>Fills absent properties from their schema's default, top-down, as the API server does before validating.</summary>
    public static JsonNode? ApplyDefaults(JsonObject schema, JsonNode? value)
    {
        switch (value)
        {
            case JsonObject obj when schema["properties"] is JsonObject properties:
                foreach (var (name, propertySchema) in properties)
                {
                    if ((obj[name] is null) && propertySchema!["default"] is { } fallback && propertySchema["nullable"]?.GetValue<bool>() != true)
                    {
                        obj[name] = fallback.DeepClone();
                    }

                    if (obj[name] is { } child)
                    {
                        obj[name] = ApplyDefaults((JsonObject)propertySchema!, child.DeepClone());
                    }
                }

                break;
            case JsonObject obj when schema["additionalProperties"] is JsonObject valueSchema:
                foreach (var name in obj.Select(p => p.Key).ToList())
                {
                    obj[name] = ApplyDefaults(valueSchema, obj[name]?.DeepClone());
                }

                break;
            case JsonArray array when schema["items"] is JsonObject itemSchema:
                for (var i = 0; i < array.Count; i++)
                {
                    array[i] = ApplyDefaults(itemSchema, array[i]?.DeepClone());
                }

                break;
        }

        return value;
    }

    private static void Check(JsonObject schema, JsonNode? value, string path, List<SchemaError> errors)
    {
        if (value is null)
        {
            if (schema["nullable"]?.GetValue<bool>() != true)
            {
                errors.Add(new SchemaError(path, "must not be null"));
            }

            return;
        }

        var type = schema["type"]?.GetValue<string>() ?? throw new InvalidOperationException($"{path}: schema has no type (not structural)");
        var countBefore = errors.Count;
        switch (type)
        {
            case "object":
                CheckObject(schema, value, path, errors);
                break;
            case "array":
                CheckArray(schema, value, path, errors);
                break;
            case "string":
                CheckString(schema, value, path, errors);
                break;
            case "integer" or "number":
                CheckNumber(schema, value, path, type, errors);
                break;
            case "boolean":
                if (value.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                {
                    errors.Add(new SchemaError(path, $"must be a boolean (got {value.ToJsonString()})"));
                }

                break;
            default:
                throw new InvalidOperationException($"{path}: unsupported schema type {type}");
        }

        // The API server runs CEL only on values that passed the schema: a rule never sees the wrong type.
        if (errors.Count == countBefore && schema["x-kubernetes-validations"] is JsonArray rules)
        {
            foreach (var rule in rules.Cast<JsonObject>())
            {
                var text = rule["rule"]!.GetValue<string>();
                if (!CelMirror.Evaluate(text, value))
                {
                    errors.Add(new SchemaError(path, rule["message"]?.GetValue<string>() ?? $"failed rule: {text}"));
                }
            }
        }
    }

    private static void CheckObject(JsonObject schema, JsonNode value, string path, List<SchemaError> errors)
    {
        if (value is not JsonObject obj)
        {
            errors.Add(new SchemaError(path, $"must be an object (got {value.ToJsonString()})"));
            return;
        }

        var properties = schema["properties"] as JsonObject;
        var additional = schema["additionalProperties"] as JsonObject;
        foreach (var (name, child) in obj)
        {
            var childPath = Join(path, name);
            var childSchema = properties?[name] as JsonObject ?? additional;
            if (childSchema is null)
            {
                // {type: object} alone (metadata) is the API server's business, not the CRD's.
                if (properties is not null)
                {
                    errors.Add(new SchemaError(childPath, "unknown field"));
                }

                continue;
            }

            // Nulls in fields that are not nullable are pruned before validation: the field counts as absent.
            if (child is null && childSchema["nullable"]?.GetValue<bool>() != true)
            {
                continue;
            }

            Check(childSchema, child, childPath, errors);
        }

        foreach (var required in (schema["required"] as JsonArray ?? []).Select(r => r!.GetValue<string>()))
        {
            if (obj[required] is null)
            {
                errors.Add(new SchemaError(Join(path, required), "is required"));
            }
        }
    }

    private static void CheckArray(JsonObject schema, JsonNode value, string path, List<SchemaError> errors)
    {
        if (value is not JsonArray array)
        {
            errors.Add(new SchemaError(path, $"must be a list (got {value.ToJsonString()})"));
            return;
        }

        if (schema["minItems"] is { } minItemsNode && (int)Number(minItemsNode) is var minItems && array.Count < minItems)
        {
            errors.Add(new SchemaError(path, $"must have at least {minItems} items"));
        }

        if (schema["maxItems"] is { } maxItemsNode && (int)Number(maxItemsNode) is var maxItems && array.Count > maxItems)
        {
            errors.Add(new SchemaError(path, $"must have at most {maxItems} items"));
        }

        var itemSchema = (JsonObject)schema["items"]!;
        for (var i = 0; i < array.Count; i++)
        {
            Check(itemSchema, array[i], $"{path}[{i}]", errors);
        }

        var listType = schema["x-kubernetes-list-type"]?.GetValue<string>();
        if (listType is "set" or "map")
        {
            var keys = listType == "set"
                ? array.Select(item => item?.ToJsonString() ?? "null").ToList()
                : array.Select(item => string.Join('/', schema["x-kubernetes-list-map-keys"]!.AsArray().Select(k => item?[k!.GetValue<string>()]?.ToJsonString()))).ToList();
            for (var i = 0; i < keys.Count; i++)
            {
                if (keys.IndexOf(keys[i]) < i)
                {
                    errors.Add(new SchemaError($"{path}[{i}]", $"duplicate value {keys[i]}"));
                }
            }
        }
    }

    private static void CheckString(JsonObject schema, JsonNode value, string path, List<SchemaError> errors)
    {
        if (value.GetValueKind() != JsonValueKind.String)
        {
            errors.Add(new SchemaError(path, $"must be a string (got {value.ToJsonString()})"));
            return;
        }

        var text = value.GetValue<string>();
        if (schema["enum"] is JsonArray allowed && !allowed.Any(a => a!.GetValue<string>() == text))
        {
            errors.Add(new SchemaError(path, $"unsupported value \"{text}\": must be one of {string.Join(", ", allowed.Select(a => a!.GetValue<string>()))}"));
        }

        if (schema["pattern"]?.GetValue<string>() is { } pattern && !Regex.IsMatch(text, pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)))
        {
            errors.Add(new SchemaError(path, $"\"{text}\" does not match {pattern}"));
        }

        if (schema["minLength"] is { } minLengthNode && (int)Number(minLengthNode) is var minLength && text.Length < minLength)
        {
            errors.Add(new SchemaError(path, $"must be at least {minLength} characters long"));
        }

        if (schema["maxLength"] is { } maxLengthNode && (int)Number(maxLengthNode) is var maxLength && text.Length > maxLength)
        {
            errors.Add(new SchemaError(path, $"must be at most {maxLength} characters long"));
        }

        if (schema["format"]?.GetValue<string>() == "date-time"
            && !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _))
        {
            errors.Add(new SchemaError(path, $"\"{text}\" is not an RFC 3339 date-time"));
        }
    }

    private static void CheckNumber(JsonObject schema, JsonNode value, string path, string type, List<SchemaError> errors)
    {
        if (value.GetValueKind() != JsonValueKind.Number)
        {
            errors.Add(new SchemaError(path, $"must be {(type == "integer" ? "an integer" : "a number")} (got {value.ToJsonString()})"));
            return;
        }

        var number = Number(value);
        if (type == "integer" && number != Math.Floor(number))
        {
            errors.Add(new SchemaError(path, $"must be an integer (got {value.ToJsonString()})"));
            return;
        }

        if (schema["minimum"] is { } min)
        {
            var exclusive = schema["exclusiveMinimum"]?.GetValue<bool>() == true;
            if (exclusive ? number <= Number(min) : number < Number(min))
            {
                errors.Add(new SchemaError(path, $"must be {(exclusive ? "greater than" : "at least")} {min.ToJsonString()} (got {value.ToJsonString()})"));
            }
        }

        if (schema["maximum"] is { } max)
        {
            var exclusive = schema["exclusiveMaximum"]?.GetValue<bool>() == true;
            if (exclusive ? number >= Number(max) : number > Number(max))
            {
                errors.Add(new SchemaError(path, $"must be {(exclusive ? "less than" : "at most")} {max.ToJsonString()} (got {value.ToJsonString()})"));
            }
        }
    }

    public static double Number(JsonNode value) => double.Parse(value.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture);

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";
}
