using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using k8s.Models;
using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Core.Serialization;

namespace Tollgate.Operator.Crds;

/// <summary>
/// Reflects an API type into a structural OpenAPI v3 schema as <c>apiextensions.k8s.io/v1</c> takes it: every node has a
/// type, objects list their properties, names follow the JSON the policy loader reads (camelCase, <c>[JsonPropertyName]</c>).
/// </summary>
/// <remarks>
/// Only what the API types use is supported; anything else throws, so a new property type is a build-time question
/// rather than a silently wrong schema.
/// </remarks>
internal sealed class SchemaBuilder(ApiDocs docs)
{
    /// <summary>The <c>openAPIV3Schema</c> of a custom resource kind.</summary>
    public JsonObject ForEntity(Type entity)
    {
        var properties = new JsonObject
        {
            ["apiVersion"] = new JsonObject
            {
                ["description"] = "The versioned schema of this representation of an object: group/version.",
                ["type"] = "string",
            },
            ["kind"] = new JsonObject
            {
                ["description"] = "The REST resource this object represents, in CamelCase.",
                ["type"] = "string",
            },
            ["metadata"] = new JsonObject { ["type"] = "object" },
        };

        var required = new List<string>();
        foreach (var property in DataProperties(entity))
        {
            // apiVersion, kind and metadata belong to the API server; only spec and status are ours to describe.
            if (property.Name is "ApiVersion" or "Kind" or "Metadata")
            {
                continue;
            }

            var name = JsonName(property);
            properties[name] = ForProperty(property);
            if (property.IsDefined(typeof(RequiredAttribute)))
            {
                required.Add(name);
            }
        }

        return ObjectNode(docs.Of(entity), properties, required, entity);
    }

    private JsonObject ForProperty(PropertyInfo property)
    {
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        var schema = ForType(type);
        if (docs.Of(property) is { } description)
        {
            schema["description"] = description;
        }

        var isList = ItemType(type) is not null;
        var scalar = isList ? (JsonObject)schema["items"]! : schema;
        var scalarType = isList ? ItemType(type)! : type;

        if (property.GetCustomAttribute<AllowedValuesAttribute>() is { } allowed)
        {
            Expect(property, scalarType == typeof(string), "[AllowedValues] needs strings");
            scalar["enum"] = new JsonArray([.. allowed.Values.Select(v => JsonValue.Create((string)v!))]);
        }

        if (property.GetCustomAttribute<PatternAttribute>() is { } pattern)
        {
            Expect(property, scalarType == typeof(string), "[Pattern] needs strings");
            scalar["pattern"] = pattern.Pattern;
        }

        if (property.GetCustomAttribute<MinimumAttribute>() is { } minimum)
        {
            Expect(property, IsNumber(scalarType), "[Minimum] needs numbers");
            scalar["minimum"] = Number(minimum.Value);
            if (minimum.Exclusive)
            {
                scalar["exclusiveMinimum"] = true;
            }
        }

        if (property.GetCustomAttribute<MaximumAttribute>() is { } maximum)
        {
            Expect(property, IsNumber(scalarType), "[Maximum] needs numbers");
            scalar["maximum"] = Number(maximum.Value);
            if (maximum.Exclusive)
            {
                scalar["exclusiveMaximum"] = true;
            }
        }

        if (property.GetCustomAttribute<MinLengthAttribute>() is { } minLength)
        {
            Expect(property, isList || type == typeof(string), "[MinLength] needs a string or a list");
            schema[isList ? "minItems" : "minLength"] = minLength.Length;
        }

        if (property.GetCustomAttribute<MaxLengthAttribute>() is { } maxLength)
        {
            Expect(property, isList || type == typeof(string), "[MaxLength] needs a string or a list");
            schema[isList ? "maxItems" : "maxLength"] = maxLength.Length;
        }

        if (property.IsDefined(typeof(UniqueItemsAttribute)))
        {
            Expect(property, isList && scalar["type"]?.GetValue<string>() is not "object", "[UniqueItems] needs a list of scalars");
            schema["x-kubernetes-list-type"] = "set";
        }

        AddValidations(schema, property.GetCustomAttributes<CelValidationAttribute>());

        if (property.IsDefined(typeof(DefaultedAttribute)))
        {
            // The initializer is the default the C# side applies to an absent field; publishing that same value lets
            // the API server fill it in, so what kubectl shows is what the meter enforces.
            var owner = Activator.CreateInstance(property.DeclaringType!)!;
            schema["default"] = JsonSerializer.SerializeToNode(property.GetValue(owner), property.PropertyType, ModelJson.Strict);
        }

        return schema;
    }

    private JsonObject ForType(Type type)
    {
        if (type == typeof(string))
        {
            return new JsonObject { ["type"] = "string" };
        }

        if (type == typeof(bool))
        {
            return new JsonObject { ["type"] = "boolean" };
        }

        if (type == typeof(int))
        {
            return new JsonObject { ["format"] = "int32", ["type"] = "integer" };
        }

        if (type == typeof(long))
        {
            return new JsonObject { ["format"] = "int64", ["type"] = "integer" };
        }

        if (type == typeof(double))
        {
            return new JsonObject { ["format"] = "double", ["type"] = "number" };
        }

        if (type == typeof(decimal))
        {
            // No format: amounts are exact decimals in C#, and "double" would promise a binary float.
            return new JsonObject { ["type"] = "number" };
        }

        if (type == typeof(DateTime) || type == typeof(DateTimeOffset))
        {
            return new JsonObject { ["format"] = "date-time", ["type"] = "string" };
        }

        if (type == typeof(V1Condition))
        {
            return WellKnown.Condition();
        }

        if (ItemType(type) is { } item)
        {
            var array = new JsonObject { ["items"] = ForType(item), ["type"] = "array" };
            if (item == typeof(V1Condition))
            {
                // One condition per type, as metav1.Condition lists are everywhere: server-side apply merges by it.
                array["x-kubernetes-list-map-keys"] = new JsonArray("type");
                array["x-kubernetes-list-type"] = "map";
            }

            return array;
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            var arguments = type.GetGenericArguments();
            if (arguments[0] != typeof(string))
            {
                throw new NotSupportedException($"{type}: map keys must be strings");
            }

            return new JsonObject { ["additionalProperties"] = ForType(arguments[1]), ["type"] = "object" };
        }

        if (type.IsClass && type.Namespace == typeof(AiBudget).Namespace)
        {
            var properties = new JsonObject();
            var required = new List<string>();
            foreach (var property in DataProperties(type))
            {
                var name = JsonName(property);
                properties[name] = ForProperty(property);
                if (property.IsDefined(typeof(RequiredAttribute)))
                {
                    required.Add(name);
                }
            }

            return ObjectNode(docs.Of(type), properties, required, type);
        }

        throw new NotSupportedException($"{type}: no schema mapping (extend {nameof(SchemaBuilder)} deliberately)");
    }

    private static JsonObject ObjectNode(string? description, JsonObject properties, List<string> required, Type type)
    {
        var node = new JsonObject();
        if (description is not null)
        {
            node["description"] = description;
        }

        node["properties"] = properties;
        if (required.Count > 0)
        {
            node["required"] = new JsonArray([.. required.Order(StringComparer.Ordinal).Select(r => JsonValue.Create(r))]);
        }

        node["type"] = "object";
        AddValidations(node, type.GetCustomAttributes<CelValidationAttribute>());
        return node;
    }

    private static void AddValidations(JsonObject schema, IEnumerable<CelValidationAttribute> rules)
    {
        var list = rules.Select(r => (JsonNode)new JsonObject { ["message"] = r.Message, ["rule"] = r.Rule }).ToArray();
        if (list.Length > 0)
        {
            schema["x-kubernetes-validations"] = new JsonArray(list);
        }
    }

    private static IEnumerable<PropertyInfo> DataProperties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanRead && p.CanWrite && !p.IsDefined(typeof(JsonIgnoreAttribute)));

    public static string JsonName(PropertyInfo property) =>
        property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(property.Name);

    private static Type? ItemType(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>) ? type.GetGenericArguments()[0] : null;

    private static bool IsNumber(Type type) =>
        type == typeof(int) || type == typeof(long) || type == typeof(double) || type == typeof(decimal);

    private static JsonValue Number(double value) =>
        value == Math.Floor(value) && Math.Abs(value) < long.MaxValue ? JsonValue.Create((long)value) : JsonValue.Create(value);

    private static void Expect(PropertyInfo property, bool condition, string message)
    {
        if (!condition)
        {
            throw new NotSupportedException($"{property.DeclaringType!.Name}.{property.Name}: {message}");
        }
    }
}
