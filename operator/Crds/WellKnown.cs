using System.Text.Json.Nodes;

namespace Tollgate.Operator.Crds;

/// <summary>Schemas of Kubernetes' own types that the API types embed.</summary>
internal static class WellKnown
{
    /// <summary>
    /// metav1.Condition with the constraints the API server puts on it everywhere else, so a condition written here is
    /// one every Kubernetes tool (kubectl wait, kstatus, Argo CD health) reads the usual way.
    /// </summary>
    public static JsonObject Condition() => new()
    {
        ["description"] = "One aspect of the object's current state.",
        ["properties"] = new JsonObject
        {
            ["lastTransitionTime"] = new JsonObject
            {
                ["description"] = "When the condition last changed from one status to another.",
                ["format"] = "date-time",
                ["type"] = "string",
            },
            ["message"] = new JsonObject
            {
                ["description"] = "A human-readable account of the transition; may be empty.",
                ["maxLength"] = 32768,
                ["type"] = "string",
            },
            ["observedGeneration"] = new JsonObject
            {
                ["description"] = "The metadata.generation the condition was set from.",
                ["format"] = "int64",
                ["minimum"] = 0,
                ["type"] = "integer",
            },
            ["reason"] = new JsonObject
            {
                ["description"] = "A CamelCase, machine-readable reason for the condition's last transition.",
                ["maxLength"] = 1024,
                ["minLength"] = 1,
                ["pattern"] = "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
                ["type"] = "string",
            },
            ["status"] = new JsonObject
            {
                ["description"] = "True, False or Unknown.",
                ["enum"] = new JsonArray("True", "False", "Unknown"),
                ["type"] = "string",
            },
            ["type"] = new JsonObject
            {
                ["description"] = "The condition's type in CamelCase, such as Ready.",
                ["maxLength"] = 316,
                ["pattern"] = @"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
                ["type"] = "string",
            },
        },
        ["required"] = new JsonArray("lastTransitionTime", "message", "reason", "status", "type"),
        ["type"] = "object",
    };
}
