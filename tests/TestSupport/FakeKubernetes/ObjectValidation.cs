using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Tollgate.TestSupport.FakeKubernetes;

/// <summary>
/// The metadata checks every real type gets (names, labels, annotations, finalizers) and the few per-type ones an operator
/// trips over (ConfigMap and Secret keys and sizes, Lease durations), worded as apimachinery words them.
/// Custom resources get no schema validation: the fake has no OpenAPI schema.
/// </summary>
internal static partial class ObjectValidation
{
    private const string Dns1123SubdomainMessage =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

    private const string Dns1123LabelMessage =
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

    private const string QualifiedNameMessage =
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

    private const string LabelValueMessage =
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    private const string ConfigKeyMessage =
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

    private const int MaxAnnotationBytes = 256 * 1024;
    private const int MaxConfigBytes = 1024 * 1024;

    public static string? Dns1123SubdomainProblem(string value) =>
        value.Length > 253 ? "must be no more than 253 characters"
        : Dns1123Subdomain().IsMatch(value) ? null
        : Dns1123SubdomainMessage;

    public static string? Dns1123LabelProblem(string value) =>
        value.Length > 63 ? "must be no more than 63 characters"
        : Dns1123Label().IsMatch(value) ? null
        : Dns1123LabelMessage;

    /// <summary>A label or annotation key, or a finalizer: an optional DNS subdomain prefix and a slash, then a name of at most 63.</summary>
    public static string? QualifiedNameProblem(string value)
    {
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        var name = value;
        if (slash >= 0)
        {
            var prefix = value[..slash];
            name = value[(slash + 1)..];
            if (prefix.Length == 0)
            {
                return "prefix part must be non-empty";
            }

            if (Dns1123SubdomainProblem(prefix) is { } prefixProblem)
            {
                return "prefix part " + prefixProblem;
            }
        }

        return name.Length == 0 ? "name part must be non-empty"
            : name.Length > 63 ? "name part must be no more than 63 characters"
            : QualifiedNamePart().IsMatch(name) ? null
            : QualifiedNameMessage;
    }

    public static string? LabelValueProblem(string value) =>
        value.Length > 63 ? "must be no more than 63 characters"
        : LabelValue().IsMatch(value) ? null
        : LabelValueMessage;

    /// <summary>Everything wrong with an object about to be stored (create, update or patch result).</summary>
    public static IReadOnlyList<FieldError> Validate(ApiResource resource, JsonObject obj)
    {
        var errors = new List<FieldError>();
        var metadata = obj["metadata"] as JsonObject;
        RequireStrings(resource, metadata?["labels"], "ObjectMeta.metadata.labels");
        RequireStrings(resource, metadata?["annotations"], "ObjectMeta.metadata.annotations");
        RequireStrings(resource, metadata?["finalizers"], "ObjectMeta.metadata.finalizers");
        if (resource.Group.Length == 0 && resource.Plural is "configmaps" or "secrets")
        {
            RequireStrings(resource, obj["data"], $"{resource.Kind}.data");
            RequireStrings(resource, obj["binaryData"], $"{resource.Kind}.binaryData");
        }

        var name = Json.Str(metadata?["name"]) ?? "";
        var nameProblem = resource.Plural == "namespaces" && resource.Group.Length == 0 ? Dns1123LabelProblem(name) : Dns1123SubdomainProblem(name);
        if (nameProblem is not null)
        {
            errors.Add(FieldError.InvalidValue("metadata.name", name, nameProblem));
        }

        if (metadata?["labels"] is JsonObject labels)
        {
            foreach (var (key, value) in labels)
            {
                if (QualifiedNameProblem(key) is { } keyProblem)
                {
                    errors.Add(FieldError.InvalidValue("metadata.labels", key, keyProblem));
                }

                var text = Json.Str(value) ?? "";
                if (LabelValueProblem(text) is { } valueProblem)
                {
                    errors.Add(FieldError.InvalidValue("metadata.labels", text, valueProblem));
                }
            }
        }

        if (metadata?["annotations"] is JsonObject annotations)
        {
            var total = 0;
            foreach (var (key, value) in annotations)
            {
                if (QualifiedNameProblem(key.ToLowerInvariant()) is { } keyProblem)
                {
                    errors.Add(FieldError.InvalidValue("metadata.annotations", key, keyProblem));
                }

                total += Encoding.UTF8.GetByteCount(key) + Encoding.UTF8.GetByteCount(Json.Str(value) ?? "");
            }

            if (total > MaxAnnotationBytes)
            {
                errors.Add(FieldError.TooLong("metadata.annotations", $"may not be more than {MaxAnnotationBytes} bytes"));
            }
        }

        if (metadata?["finalizers"] is JsonArray finalizers)
        {
            for (var i = 0; i < finalizers.Count; i++)
            {
                var finalizer = Json.Str(finalizers[i]) ?? "";
                if (QualifiedNameProblem(finalizer) is { } problem)
                {
                    errors.Add(FieldError.InvalidValue($"metadata.finalizers[{i}]", finalizer, problem));
                }
            }
        }

        if (resource.Group.Length == 0 && resource.Plural is "configmaps" or "secrets")
        {
            ValidateConfigKeys(obj, errors, resource.Plural == "secrets");
        }

        if (resource.Group == "coordination.k8s.io" && resource.Plural == "leases"
            && Json.Long(obj["spec"]?["leaseDurationSeconds"]) is <= 0 and var duration)
        {
            errors.Add(FieldError.InvalidValue("spec.leaseDurationSeconds", duration.ToString(System.Globalization.CultureInfo.InvariantCulture), "must be greater than 0"));
        }

        return errors;
    }

    /// <summary>A map or list of strings with a non-string in it does not even decode on a real server: 400, not 422.</summary>
    private static void RequireStrings(ApiResource resource, JsonNode? node, string goField)
    {
        var values = node switch
        {
            JsonObject o => o.Select(p => p.Value),
            JsonArray a => a.AsEnumerable(),
            null => [],
            _ => [node],
        };
        foreach (var value in values)
        {
            if (Json.Str(value) is null)
            {
                var found = value is null ? "null" : value.GetValueKind().ToString().ToLowerInvariant();
                throw ApiError.BadRequest(
                    $"{resource.Kind} in version \"{resource.Version}\" cannot be handled as a {resource.Kind}: json: cannot unmarshal {found} into Go struct field {goField} of type string");
            }
        }
    }

    private static void ValidateConfigKeys(JsonObject obj, List<FieldError> errors, bool secret)
    {
        var total = 0L;
        foreach (var section in secret ? new[] { "data" } : ["data", "binaryData"])
        {
            if (obj[section] is not JsonObject entries)
            {
                continue;
            }

            foreach (var (key, value) in entries)
            {
                if (key.Length > 253 || !ConfigKey().IsMatch(key))
                {
                    errors.Add(FieldError.InvalidValue($"{section}[{key}]", key, key.Length > 253 ? "must be no more than 253 characters" : ConfigKeyMessage));
                }

                var text = Json.Str(value) ?? "";
                total += secret || section == "binaryData" ? text.Length * 3L / 4 : Encoding.UTF8.GetByteCount(text);
            }
        }

        if (total > MaxConfigBytes)
        {
            errors.Add(FieldError.TooLong(secret ? "data" : "[]", $"may not be more than {MaxConfigBytes} bytes"));
        }
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Dns1123Subdomain();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1123Label();

    [GeneratedRegex("^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")]
    private static partial Regex QualifiedNamePart();

    [GeneratedRegex("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")]
    private static partial Regex LabelValue();

    [GeneratedRegex("^[-._a-zA-Z0-9]+$")]
    private static partial Regex ConfigKey();
}
