using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cel;

namespace Tollgate.TestSupport.FakeKubernetes;

/// <summary>
/// ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) evaluation, the way kube-apiserver does it after
/// mutation and validation: every binding whose policy's <c>matchConstraints</c> and whose own <c>matchResources</c>
/// match the request, with its params (a missing param object denies under <c>parameterNotFoundAction: Deny</c>),
/// the policy's variables, then each validation in order; the first that is false denies with its
/// <c>reason</c>/<c>message</c>, and an expression error denies under <c>failurePolicy: Fail</c> (the default).
/// CEL is the Cel package (a real CEL interpreter) with the Kubernetes string library's <c>join</c>.
/// </summary>
/// <remarks>
/// Not modelled: type-checking of expressions against the OpenAPI schema at policy creation, cost limits,
/// <c>matchConditions</c>, <c>auditAnnotations</c>, <c>messageExpression</c>, <c>objectSelector</c>,
/// <c>excludeResourceRules</c>, the Warn and Audit actions, and param selectors. An expression that uses any of
/// these fails (and so denies) rather than being skipped. Unlike cel-go, <c>a || b</c> does not absorb an error of
/// <c>a</c> when <c>b</c> is true: stricter, never more lenient.
/// </remarks>
internal static class AdmissionPolicies
{
    public static readonly ResourceIdentity Policies = new("admissionregistration.k8s.io", "validatingadmissionpolicies");
    public static readonly ResourceIdentity Bindings = new("admissionregistration.k8s.io", "validatingadmissionpolicybindings");

    /// <summary>Throws the API server's denial when a policy bound to this request refuses it.</summary>
    /// <param name="lookup">Reads a stored object by resource, namespace ("" for cluster-scoped) and name.</param>
    public static void Admit(
        ApiResource resource,
        string operation,
        string? subResource,
        JsonObject obj,
        JsonObject? old,
        IEnumerable<JsonObject> bindings,
        Func<ResourceIdentity, string, string, JsonObject?> lookup)
    {
        var ns = Json.Str(obj["metadata"]?["namespace"]);
        var name = Json.Str(obj["metadata"]?["name"]) ?? "";
        var namespaceObject = ns is null ? null : lookup(ApiResource.Namespaces.Identity, "", ns);
        foreach (var binding in bindings.OrderBy(b => Json.Str(b["metadata"]?["name"]), StringComparer.Ordinal))
        {
            var bindingName = Json.Str(binding["metadata"]?["name"]) ?? "";
            var policyName = Json.Str(binding["spec"]?["policyName"]) ?? "";
            var policy = lookup(Policies, "", policyName);
            if (policy is null
                || !Matches(policy["spec"]?["matchConstraints"], resource, operation, subResource, namespaceObject, requireRules: true)
                || !Matches(binding["spec"]?["matchResources"], resource, operation, subResource, namespaceObject, requireRules: false))
            {
                continue;
            }

            var actions = (binding["spec"]?["validationActions"] as JsonArray ?? []).Select(a => Json.Str(a)).ToList();
            if (!actions.Contains("Deny"))
            {
                continue;
            }

            var denial = Evaluate(policy, binding, resource, operation, subResource, obj, old, namespaceObject, lookup);
            if (denial is not null)
            {
                var (reason, message) = denial.Value;
                var text = $"ValidatingAdmissionPolicy '{policyName}' with binding '{bindingName}' denied request: {message}";
                throw reason == "Forbidden"
                    ? ApiError.Forbidden(resource, name, text)
                    : new ApiError(422, "Invalid", $"{resource.QualifiedName} \"{name}\" is invalid: {text}");
            }
        }
    }

    private static (string Reason, string Message)? Evaluate(
        JsonObject policy,
        JsonObject binding,
        ApiResource resource,
        string operation,
        string? subResource,
        JsonObject obj,
        JsonObject? old,
        JsonObject? namespaceObject,
        Func<ResourceIdentity, string, string, JsonObject?> lookup)
    {
        var spec = policy["spec"]!;
        var failClosed = Json.Str(spec["failurePolicy"]) is null or "Fail";
        object? parameters = null;
        if (spec["paramKind"] is JsonObject && binding["spec"]?["paramRef"] is JsonObject paramRef)
        {
            var paramNamespace = Json.Str(paramRef["namespace"]) ?? Json.Str(obj["metadata"]?["namespace"]) ?? "";
            var found = Json.Str(paramRef["name"]) is { } paramName ? lookup(new ResourceIdentity("", "configmaps"), paramNamespace, paramName) : null;
            if (found is null)
            {
                if (Json.Str(paramRef["parameterNotFoundAction"]) == "Deny")
                {
                    return ("Invalid", "failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction");
                }

                return null;
            }

            parameters = ToCel(found);
        }

        var variables = new Dictionary<string, object?>(StringComparer.Ordinal);
        var activation = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["object"] = ToCel(obj),
            ["oldObject"] = old is null ? null : ToCel(old),
            ["params"] = parameters,
            ["namespaceObject"] = namespaceObject is null ? null : ToCel(namespaceObject),
            ["request"] = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["operation"] = operation,
                ["subResource"] = subResource ?? "",
                ["namespace"] = Json.Str(obj["metadata"]?["namespace"]) ?? "",
                ["name"] = Json.Str(obj["metadata"]?["name"]) ?? "",
                ["resource"] = new Dictionary<string, object?> { ["group"] = resource.Group, ["version"] = resource.Version, ["resource"] = resource.Plural },
            },
            ["variables"] = variables,
        };

        var environment = Environment();
        try
        {
            foreach (var variable in spec["variables"] as JsonArray ?? [])
            {
                variables[Json.Str(variable!["name"])!] = environment.Program(Json.Str(variable["expression"])!, activation!);
            }
        }
        catch (CelException e)
        {
            return failClosed ? ("Invalid", $"variable could not be evaluated: {e.Message}") : null;
        }

        foreach (var validation in spec["validations"] as JsonArray ?? [])
        {
            var expression = Json.Str(validation!["expression"])!;
            object? result;
            try
            {
                result = environment.Program(expression, activation!);
            }
            catch (CelException e)
            {
                if (failClosed)
                {
                    return ("Invalid", $"expression '{expression}' resulted in error: {e.Message}");
                }

                continue;
            }

            if (result is not bool passed)
            {
                return ("Invalid", $"expression '{expression}' must evaluate to bool");
            }

            if (!passed)
            {
                var message = Json.Str(validation["message"]) ?? $"failed expression: {expression}";
                return (Json.Str(validation["reason"]) ?? "Invalid", message);
            }
        }

        return null;
    }

    /// <summary>A CEL environment with Kubernetes' string library functions the policies use.</summary>
    public static CelEnvironment Environment()
    {
        var environment = new CelEnvironment(null, null);
        Cel.Internal.CelStringHandlingFunctions.RegisterStringExtensionFunctions(environment);

        // The package's has() follows proto3 and calls an empty map, list or string "not set". On a Kubernetes
        // object has() tests presence, so `emptyDir: {}` has an emptyDir; an absent field reaches here as the
        // package's no-such-field marker, and null fields were dropped by ToCel as the API server drops them.
        environment.RegisterFunction("has", [typeof(object)], args => args[0] is { } value && value.GetType().Name != "CelNoSuchField");
        return environment;
    }

    private static bool Matches(JsonNode? match, ApiResource resource, string operation, string? subResource, JsonObject? namespaceObject, bool requireRules)
    {
        if (match is not JsonObject constraints)
        {
            return !requireRules;
        }

        if (constraints["namespaceSelector"] is JsonObject selector && resource.Namespaced
            && (namespaceObject is null || !SelectorMatches(selector, namespaceObject)))
        {
            return false;
        }

        if (constraints["resourceRules"] is not JsonArray rules)
        {
            return !requireRules;
        }

        var plural = subResource is null ? resource.Plural : $"{resource.Plural}/{subResource}";
        return rules.Any(rule =>
            In(rule!["apiGroups"], resource.Group) && In(rule["apiVersions"], resource.Version)
            && In(rule["operations"], operation) && In(rule["resources"], plural));
    }

    private static bool In(JsonNode? list, string value) =>
        (list as JsonArray ?? []).Select(v => Json.Str(v)).Any(v => v == "*" || v == value);

    private static bool SelectorMatches(JsonObject selector, JsonObject namespaceObject)
    {
        var parts = new List<string>();
        foreach (var (key, value) in selector["matchLabels"] as JsonObject ?? [])
        {
            parts.Add($"{key}={Json.Str(value)}");
        }

        foreach (var requirement in selector["matchExpressions"] as JsonArray ?? [])
        {
            var key = Json.Str(requirement!["key"]);
            var values = string.Join(",", (requirement["values"] as JsonArray ?? []).Select(v => Json.Str(v)));
            parts.Add(Json.Str(requirement["operator"]) switch
            {
                "In" => $"{key} in ({values})",
                "NotIn" => $"{key} notin ({values})",
                "Exists" => key!,
                "DoesNotExist" => $"!{key}",
                var other => throw new InvalidOperationException($"unsupported selector operator {other}"),
            });
        }

        return LabelSelector.Parse(string.Join(",", parts)).Matches(namespaceObject);
    }

    /// <summary>JSON as CEL values: objects are maps (absent and null fields are both absent, as the API server stores them), integers int.</summary>
    public static object? ToCel(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => o.Where(p => p.Value is not null).ToDictionary(p => p.Key, p => ToCel(p.Value), StringComparer.Ordinal),
        JsonArray a => a.Select(ToCel).ToArray(),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number when v.TryGetValue<long>(out var l) => l,
            JsonValueKind.Number => double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture),
            _ => null,
        },
        _ => null,
    };
}
