using System.Text.Json.Nodes;

namespace Tollgate.TestSupport.FakeKubernetes;

/// <summary>
/// CustomResourceDefinition objects and the resources they serve kept in step both ways: registering a resource stores
/// its CRD, and creating, changing or deleting a CRD through the API starts or stops serving its resource.
/// </summary>
public sealed partial class FakeKubernetesApi
{
    private void UpsertCustomResourceDefinitionLocked(ApiResource resource)
    {
        var crds = ApiResource.CustomResourceDefinitions;
        var name = $"{resource.Plural}.{resource.Group}";
        var key = KeyFor(crds, null, name);
        if (!_objects.TryGetValue(key, out var existing))
        {
            var crd = new JsonObject
            {
                ["apiVersion"] = crds.ApiVersion,
                ["kind"] = crds.Kind,
                ["metadata"] = new JsonObject { ["name"] = name },
                ["spec"] = new JsonObject
                {
                    ["group"] = resource.Group,
                    ["names"] = Names(resource),
                    ["scope"] = resource.Namespaced ? "Namespaced" : "Cluster",
                    ["versions"] = new JsonArray(VersionEntry(resource, storage: true)),
                },
            };
            CreateLocked(crds, null, crd, dryRun: false);
            return;
        }

        var versions = existing["spec"]?["versions"] as JsonArray;
        if (versions is not null && versions.Any(v => Json.Str(v?["name"]) == resource.Version))
        {
            return;
        }

        var updated = existing.DeepClone().AsObject();
        if (updated["spec"] is JsonObject spec)
        {
            var list = spec["versions"] as JsonArray ?? [];
            list.Add(VersionEntry(resource, storage: false));
            spec["versions"] = list;
        }

        Commit(ChangeType.Modified, key, updated, existing);
    }

    /// <summary>What the apiextensions server checks and sets on a new CRD: the name it must have and its Established condition.</summary>
    private void PrepareCustomResourceDefinition(JsonObject crd)
    {
        var spec = crd["spec"] as JsonObject;
        var group = Json.Str(spec?["group"]) ?? "";
        var names = spec?["names"] as JsonObject;
        var plural = Json.Str(names?["plural"]) ?? "";
        var name = Json.Name(crd);
        if (name != $"{plural}.{group}")
        {
            throw ApiError.Invalid(ApiResource.CustomResourceDefinitions, name,
                [FieldError.InvalidValue("metadata.name", name, "must be spec.names.plural+\".\"+spec.group")]);
        }

        if (Json.Str(names?["kind"]) is not { Length: > 0 })
        {
            throw ApiError.Invalid(ApiResource.CustomResourceDefinitions, name, [FieldError.Required("spec.names.kind", "")]);
        }

        var now = Json.Timestamp(_time.GetUtcNow());
        var storage = (spec?["versions"] as JsonArray)?.FirstOrDefault(v => v?["storage"] is JsonValue s && s.TryGetValue<bool>(out var b) && b);
        crd["status"] = new JsonObject
        {
            ["conditions"] = new JsonArray(
                new JsonObject { ["type"] = "NamesAccepted", ["status"] = "True", ["lastTransitionTime"] = now, ["reason"] = "NoConflicts", ["message"] = "no conflicts found" },
                new JsonObject { ["type"] = "Established", ["status"] = "True", ["lastTransitionTime"] = now, ["reason"] = "InitialNamesAccepted", ["message"] = "the initial names have been accepted" }),
            ["acceptedNames"] = names?.DeepClone(),
            ["storedVersions"] = new JsonArray(Json.Str(storage?["name"]) is { } stored ? [JsonValue.Create(stored)] : []),
        };
    }

    private void SyncCustomResourceDefinition(JsonObject crd, bool removed)
    {
        var spec = crd["spec"] as JsonObject;
        var group = Json.Str(spec?["group"]) ?? "";
        var names = spec?["names"] as JsonObject;
        var plural = Json.Str(names?["plural"]) ?? "";
        var identity = new ResourceIdentity(group, plural);
        var served = removed || spec?["versions"] is not JsonArray versions
            ? []
            : versions.OfType<JsonObject>().Where(v => v["served"] is not JsonValue s || !s.TryGetValue<bool>(out var b) || b).ToList();

        foreach (var version in served)
        {
            var name = Json.Str(version["name"]) ?? "";
            if (name.Length == 0 || _resources.ContainsKey((group, name, plural)))
            {
                continue;
            }

            _resources[(group, name, plural)] = new ApiResource(group, name, plural, Json.Str(names?["kind"]) ?? "", Json.Str(spec?["scope"]) != "Cluster")
            {
                IsCustom = true,
                HasStatusSubresource = version["subresources"]?["status"] is not null,
                Singular = Json.Str(names?["singular"]) is { Length: > 0 } singular ? singular : (Json.Str(names?["kind"]) ?? "").ToLowerInvariant(),
                ShortNames = (names?["shortNames"] as JsonArray)?.Select(Json.Str).OfType<string>().ToArray() ?? [],
            };
        }

        var servedNames = served.Select(v => Json.Str(v["name"])).ToHashSet();
        var dropped = _resources.Where(p => p.Value.IsCustom && p.Value.Identity == identity && !servedNames.Contains(p.Key.Version)).Select(p => p.Key).ToList();
        if (removed)
        {
            // The CRD's cleanup finalizer deletes every instance before the definition goes.
            var instances = _objects.Keys.Where(k => k.Resource == identity).ToList();
            instances.Sort(ObjectKey.StorageOrder);
            foreach (var key in instances)
            {
                RemoveLocked(key, _objects[key].DeepClone().AsObject());
            }
        }

        foreach (var key in dropped)
        {
            _resources.Remove(key);
        }
    }

    private static JsonObject Names(ApiResource resource)
    {
        var names = new JsonObject
        {
            ["plural"] = resource.Plural,
            ["singular"] = resource.Singular,
            ["kind"] = resource.Kind,
            ["listKind"] = resource.ListKind,
        };
        if (resource.ShortNames.Count > 0)
        {
            names["shortNames"] = new JsonArray(resource.ShortNames.Select(s => (JsonNode)JsonValue.Create(s)).ToArray());
        }

        return names;
    }

    private static JsonObject VersionEntry(ApiResource resource, bool storage)
    {
        var entry = new JsonObject
        {
            ["name"] = resource.Version,
            ["served"] = true,
            ["storage"] = storage,
            ["schema"] = new JsonObject
            {
                ["openAPIV3Schema"] = new JsonObject { ["type"] = "object", ["x-kubernetes-preserve-unknown-fields"] = true },
            },
        };
        if (resource.HasStatusSubresource)
        {
            entry["subresources"] = new JsonObject { ["status"] = new JsonObject() };
        }

        return entry;
    }
}
