using System.Text;
using System.Text.Json.Nodes;

namespace Tollgate.TestSupport.FakeKubernetes;

/// <summary>
/// The storage and the API server's write semantics. Every method here runs under <see cref="_gate"/>, so a write, its
/// resourceVersion and its watch event are one atomic step, as an etcd transaction plus the watch cache make them.
/// </summary>
public sealed partial class FakeKubernetesApi
{
    private const string GenerateNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";

    private JsonObject GetLocked(ApiResource resource, string? ns, string name)
    {
        var key = KeyFor(resource, ns, name);
        return _objects.TryGetValue(key, out var stored) ? Present(resource, stored) : throw ApiError.NotFound(resource, name);
    }

    private JsonObject ListLocked(ApiResource resource, string? ns, ListOptions options)
    {
        long snapshotRv;
        IEnumerable<KeyValuePair<ObjectKey, JsonObject>> source;
        string? startAfter = null;
        if (options.Continue is { Length: > 0 } token)
        {
            (snapshotRv, startAfter) = ContinueToken.Decode(token);
            if (snapshotRv < _compactedThrough)
            {
                throw ApiError.Expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.");
            }

            source = StateAt(resource.Identity, snapshotRv);
        }
        else if (options.ResourceVersion is { Length: > 0 } rvText && rvText != "0")
        {
            var requested = ParseResourceVersion(rvText);
            if (options.ResourceVersionMatch == "Exact")
            {
                if (requested > _resourceVersion)
                {
                    throw ApiError.TooLargeResourceVersion(requested, _resourceVersion);
                }

                if (requested < _compactedThrough)
                {
                    throw ApiError.TooOldResourceVersion(requested, _compactedThrough);
                }

                snapshotRv = requested;
                source = StateAt(resource.Identity, requested);
            }
            else
            {
                // NotOlderThan (the default for a non-zero version): the current state satisfies it unless the client is ahead of us.
                if (requested > _resourceVersion)
                {
                    throw ApiError.TooLargeResourceVersion(requested, _resourceVersion);
                }

                snapshotRv = _resourceVersion;
                source = _objects.Where(p => p.Key.Resource == resource.Identity);
            }
        }
        else
        {
            snapshotRv = _resourceVersion;
            source = _objects.Where(p => p.Key.Resource == resource.Identity);
        }

        var scope = new WatchScope(ns, options.Labels, options.Fields);
        var matching = source
            .Where(p => scope.Matches(p.Value))
            .OrderBy(p => p.Key, Comparer<ObjectKey>.Create(ObjectKey.StorageOrder))
            .Where(p => startAfter is null || string.CompareOrdinal(p.Key.Path, startAfter) > 0)
            .ToList();

        var page = options.Limit is > 0 ? matching.Take((int)options.Limit.Value).ToList() : matching;
        var metadata = new JsonObject { ["resourceVersion"] = Rv(snapshotRv) };
        if (page.Count < matching.Count)
        {
            metadata["continue"] = ContinueToken.Encode(snapshotRv, page[^1].Key.Path);
            if (options.Labels.IsEverything && options.Fields.IsEverything)
            {
                metadata["remainingItemCount"] = (long)(matching.Count - page.Count);
            }
        }

        var items = new JsonArray();
        foreach (var (_, obj) in page)
        {
            var item = Present(resource, obj);
            if (!resource.IsCustom)
            {
                // Items of built-in lists come without kind and apiVersion on the wire; only custom resources carry them.
                item.Remove("kind");
                item.Remove("apiVersion");
            }

            items.Add(item);
        }

        return new JsonObject
        {
            ["kind"] = resource.ListKind,
            ["apiVersion"] = resource.ApiVersion,
            ["metadata"] = metadata,
            ["items"] = items,
        };
    }

    /// <summary>The objects of one resource as they were at <paramref name="rv"/>, rebuilt by undoing the retained history.</summary>
    private Dictionary<ObjectKey, JsonObject> StateAt(ResourceIdentity resource, long rv)
    {
        var state = _objects.Where(p => p.Key.Resource == resource).ToDictionary(p => p.Key, p => p.Value);
        for (var i = _history.Count - 1; i >= 0 && _history[i].Rv > rv; i--)
        {
            var e = _history[i];
            if (e.Key.Resource != resource)
            {
                continue;
            }

            if (e.Type == ChangeType.Added)
            {
                state.Remove(e.Key);
            }
            else
            {
                state[e.Key] = e.Previous!;
            }
        }

        return state;
    }

    private (JsonObject Result, int Code) CreateLocked(ApiResource resource, string? ns, JsonObject body, bool dryRun)
    {
        CheckTypeMeta(resource, body);
        var obj = body.DeepClone().AsObject();
        var metadata = Json.Meta(obj);
        var name = Json.Str(metadata["name"]) ?? "";
        if (name.Length == 0)
        {
            var prefix = Json.Str(metadata["generateName"]) ?? "";
            if (prefix.Length == 0)
            {
                throw ApiError.Invalid(resource, "", [FieldError.Required("metadata.name", "name or generateName is required")]);
            }

            name = prefix + RandomSuffix();
            metadata["name"] = name;
        }

        PlaceInNamespace(resource, ns, metadata);
        var key = KeyFor(resource, ns, name);
        if (resource.Namespaced)
        {
            RequireLiveNamespace(resource, ns!, name);
        }

        foreach (var serverOwned in new[] { "resourceVersion", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "selfLink", "managedFields" })
        {
            metadata.Remove(serverOwned);
        }

        metadata["uid"] = Guid.NewGuid().ToString();
        metadata["creationTimestamp"] = Json.Timestamp(_time.GetUtcNow());
        if (resource.TracksGeneration)
        {
            metadata["generation"] = 1L;
        }

        obj["apiVersion"] = resource.ApiVersion;
        obj["kind"] = resource.Kind;
        PrepareCreateForType(resource, obj);
        Validate(resource, obj, old: null);
        AdmitLocked(resource, "CREATE", null, obj, old: null);

        if (_objects.ContainsKey(key))
        {
            throw ApiError.AlreadyExists(resource, name);
        }

        if (dryRun)
        {
            return (Present(resource, obj), 201);
        }

        return (Present(resource, Commit(ChangeType.Added, key, obj, previous: null)), 201);
    }

    private JsonObject UpdateLocked(ApiResource resource, string? ns, string name, JsonObject body, bool statusOnly, bool dryRun)
    {
        CheckTypeMeta(resource, body);
        var metadata = Json.Meta(body);
        var bodyName = Json.Str(metadata["name"]) ?? "";
        if (bodyName != name)
        {
            throw ApiError.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})");
        }

        var key = KeyFor(resource, ns, name);
        if (!_objects.TryGetValue(key, out var old))
        {
            throw ApiError.NotFound(resource, name);
        }

        var requestedRv = Json.Str(metadata["resourceVersion"]) ?? "";
        if (requestedRv.Length == 0 && !resource.AllowsUnconditionalUpdate)
        {
            throw ApiError.Invalid(resource, name, [FieldError.InvalidValue("metadata.resourceVersion", "0x0", "must be specified for an update")]);
        }

        if (requestedRv.Length > 0 && requestedRv != Json.ResourceVersion(old))
        {
            throw ApiError.StaleResourceVersion(resource, name);
        }

        var candidate = body.DeepClone().AsObject();
        PlaceInNamespace(resource, ns, Json.Meta(candidate));
        return WriteUpdateLocked(resource, key, old, candidate, statusOnly, dryRun);
    }

    private (JsonObject Result, int Code) PatchLocked(
        ApiResource resource, string? ns, string name, string mediaType, string patchText, bool statusOnly, bool dryRun, string? fieldManager)
    {
        var key = KeyFor(resource, ns, name);
        var exists = _objects.TryGetValue(key, out var old);
        JsonNode? patched;
        switch (mediaType)
        {
            case "application/merge-patch+json":
                patched = Patches.Merge(exists ? Present(resource, old!) : null, ParsePatch(patchText));
                break;
            case "application/strategic-merge-patch+json" when resource.IsCustom:
                throw ApiError.UnsupportedMediaType(mediaType, ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]);
            case "application/strategic-merge-patch+json":
                // Lists are replaced whole here; the real server merges some by key (containers by name).
                patched = Patches.Merge(exists ? Present(resource, old!) : null, ParsePatch(patchText));
                break;
            case "application/json-patch+json":
                if (ParsePatch(patchText) is not JsonArray operations)
                {
                    throw ApiError.BadRequest("the server rejected our request due to an error in our request: a JSON patch must be an array of operations");
                }

                patched = exists ? Patches.JsonPatch(Present(resource, old!), operations, patchText) : null;
                break;
            case "application/apply-patch+yaml":
                if (string.IsNullOrEmpty(fieldManager))
                {
                    throw ApiError.Invalid(resource, name, [FieldError.Required("fieldManager", "is required for apply patch")]);
                }

                // Server-side apply, approximated: the applied configuration is merged over the live object without field ownership.
                var applied = ParsePatch(patchText) as JsonObject
                    ?? throw ApiError.BadRequest("the fake API server accepts apply patches written as a JSON object only");
                if (!exists)
                {
                    var metadata = Json.Meta(applied);
                    metadata["name"] ??= name;
                    if (Json.Str(metadata["name"]) != name)
                    {
                        throw ApiError.BadRequest($"the name of the object ({Json.Str(metadata["name"])}) does not match the name on the URL ({name})");
                    }

                    return CreateLocked(resource, ns, applied, dryRun);
                }

                patched = Patches.Merge(Present(resource, old!), applied);
                break;
            default:
                throw ApiError.UnsupportedMediaType(mediaType, ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml", "application/strategic-merge-patch+json"]);
        }

        if (!exists)
        {
            throw ApiError.NotFound(resource, name);
        }

        if (patched is not JsonObject candidate)
        {
            throw ApiError.BadRequest("the patch turned the object into something other than a JSON object");
        }

        var metadataAfter = Json.Meta(candidate);
        if ((Json.Str(metadataAfter["name"]) ?? "") != name)
        {
            throw ApiError.BadRequest($"the name of the object ({Json.Str(metadataAfter["name"])}) does not match the name on the URL ({name})");
        }

        // A resourceVersion written by the patch is a precondition, as on a real cluster.
        var rvAfter = Json.Str(metadataAfter["resourceVersion"]) ?? "";
        if (rvAfter.Length > 0 && rvAfter != Json.ResourceVersion(old!))
        {
            throw ApiError.StaleResourceVersion(resource, name);
        }

        CheckTypeMeta(resource, candidate);
        PlaceInNamespace(resource, ns, metadataAfter);
        return (WriteUpdateLocked(resource, key, old!, candidate, statusOnly, dryRun), 200);
    }

    /// <summary>The common tail of update and patch: server-owned fields, status split, generation, finalization, no-op detection.</summary>
    private JsonObject WriteUpdateLocked(ApiResource resource, ObjectKey key, JsonObject old, JsonObject candidate, bool statusOnly, bool dryRun)
    {
        JsonObject next;
        if (statusOnly)
        {
            // Only .status moves; metadata, spec and everything else stay as stored.
            next = old.DeepClone().AsObject();
            if (candidate["status"] is { } status)
            {
                next["status"] = status.DeepClone();
            }
            else
            {
                next.Remove("status");
            }
        }
        else
        {
            next = candidate;
            var oldMeta = Json.Meta(old);
            var meta = Json.Meta(next);
            var uid = Json.Str(meta["uid"]);
            if (uid is { Length: > 0 } && uid != Json.Str(oldMeta["uid"]))
            {
                throw ApiError.Conflict(resource, key.Name, $"Precondition failed: UID in precondition: {uid}, UID in object meta: {Json.Str(oldMeta["uid"])}");
            }

            foreach (var serverOwned in new[] { "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "selfLink" })
            {
                meta.Remove(serverOwned);
                if (oldMeta[serverOwned] is { } kept)
                {
                    meta[serverOwned] = kept.DeepClone();
                }
            }

            if (resource.HasStatusSubresource)
            {
                next.Remove("status");
                if (old["status"] is { } oldStatus)
                {
                    next["status"] = oldStatus.DeepClone();
                }
            }

            if (Json.IsDeleting(old))
            {
                var added = Json.Finalizers(next).Except(Json.Finalizers(old)).ToArray();
                if (added.Length > 0)
                {
                    throw ApiError.Invalid(resource, key.Name,
                        [FieldError.Forbidden("metadata.finalizers", $"no new finalizers can be added if the object is being deleted, found new finalizers []string{{\"{string.Join("\", \"", added)}\"}}")]);
                }
            }

            PrepareUpdateForType(resource, old, next);
            if (resource.TracksGeneration && SpecChanged(resource, old, next))
            {
                Json.Meta(next)["generation"] = (Json.Long(oldMeta["generation"]) ?? 0) + 1;
            }
        }

        next["apiVersion"] = resource.ApiVersion;
        next["kind"] = resource.Kind;
        Json.Meta(next)["resourceVersion"] = Json.ResourceVersion(old);
        Validate(resource, next, old);
        AdmitLocked(resource, "UPDATE", statusOnly ? "status" : null, next, old);

        var finalized = Json.IsDeleting(next) && Json.Finalizers(next).Count == 0;
        if (!finalized && JsonNode.DeepEquals(Present(resource, old), Present(resource, next)))
        {
            // The real server writes nothing for an update that changes nothing: no new resourceVersion, no watch event.
            return Present(resource, old);
        }

        if (dryRun)
        {
            return Present(resource, next);
        }

        if (finalized)
        {
            return Present(resource, RemoveLocked(key, next));
        }

        return Present(resource, Commit(ChangeType.Modified, key, next, old));
    }

    private JsonObject DeleteLocked(ApiResource resource, string? ns, string name, DeleteOptions options)
    {
        var key = KeyFor(resource, ns, name);
        if (!_objects.TryGetValue(key, out var old))
        {
            throw ApiError.NotFound(resource, name);
        }

        var meta = Json.Meta(old);
        if (options.Uid is { Length: > 0 } uid && uid != Json.Str(meta["uid"]))
        {
            throw ApiError.Conflict(resource, name, $"Precondition failed: UID in precondition: {uid}, UID in object meta: {Json.Str(meta["uid"])}");
        }

        if (options.ResourceVersion is { Length: > 0 } rv && rv != Json.ResourceVersion(old))
        {
            throw ApiError.Conflict(resource, name, $"Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {Json.ResourceVersion(old)}");
        }

        if (options.DryRun)
        {
            return resource.ReturnsDeletedObject || Json.Finalizers(old).Count > 0 ? Present(resource, old) : Status.Success(resource, name, Json.Str(meta["uid"]));
        }

        var isNamespace = resource.Identity == ApiResource.Namespaces.Identity;
        if (Json.Finalizers(old).Count > 0 || isNamespace)
        {
            var current = old;
            if (!Json.IsDeleting(old))
            {
                current = old.DeepClone().AsObject();
                MarkDeleting(resource, current);
                current = Commit(ChangeType.Modified, key, current, old);
            }

            if (isNamespace)
            {
                current = TerminateNamespaceLocked(name) ?? current;
            }

            return Present(resource, current);
        }

        var removed = RemoveLocked(key, old.DeepClone().AsObject());
        return resource.ReturnsDeletedObject ? Present(resource, removed) : Status.Success(resource, name, Json.Str(meta["uid"]));
    }

    private JsonObject DeleteCollectionLocked(ApiResource resource, string? ns, ListOptions list, DeleteOptions options)
    {
        var scope = new WatchScope(ns, list.Labels, list.Fields);
        var keys = _objects.Where(p => p.Key.Resource == resource.Identity && scope.Matches(p.Value)).Select(p => p.Key).ToList();
        keys.Sort(ObjectKey.StorageOrder);
        var items = new JsonArray();
        foreach (var key in keys)
        {
            var result = DeleteLocked(resource, key.Namespace.Length == 0 ? null : key.Namespace, key.Name, options with { Uid = null, ResourceVersion = null });
            if (Json.Str(result["kind"]) != "Status")
            {
                items.Add(result);
            }
        }

        return new JsonObject
        {
            ["kind"] = resource.ListKind,
            ["apiVersion"] = resource.ApiVersion,
            ["metadata"] = new JsonObject { ["resourceVersion"] = Rv(_resourceVersion) },
            ["items"] = items,
        };
    }

    private void MarkDeleting(ApiResource resource, JsonObject obj)
    {
        var meta = Json.Meta(obj);
        // As the generic registry's markAsDeleting: generation moves with the deletion when the type tracks it.
        if (Json.Long(meta["generation"]) is > 0 and var generation)
        {
            meta["generation"] = generation + 1;
        }

        meta["deletionTimestamp"] = Json.Timestamp(_time.GetUtcNow());
        meta["deletionGracePeriodSeconds"] = 0L;
        if (resource.Identity == ApiResource.Namespaces.Identity)
        {
            obj["status"] = new JsonObject { ["phase"] = "Terminating" };
        }
    }

    /// <summary>What the namespace controller does: delete every object in the namespace, then the namespace once it is empty.</summary>
    private JsonObject? TerminateNamespaceLocked(string ns)
    {
        var contents = _objects.Keys.Where(k => k.Namespace == ns).ToList();
        contents.Sort(ObjectKey.StorageOrder);
        foreach (var key in contents)
        {
            if (!_objects.TryGetValue(key, out var obj) || Json.IsDeleting(obj) && Json.Finalizers(obj).Count > 0)
            {
                continue;
            }

            if (Json.Finalizers(obj).Count > 0)
            {
                var marked = obj.DeepClone().AsObject();
                MarkDeleting(ResourceFor(key), marked);
                Commit(ChangeType.Modified, key, marked, obj);
            }
            else
            {
                RemoveLocked(key, obj.DeepClone().AsObject());
            }
        }

        return FinalizeNamespaceIfEmptyLocked(ns);
    }

    private JsonObject? FinalizeNamespaceIfEmptyLocked(string ns)
    {
        var key = new ObjectKey(ApiResource.Namespaces.Identity, "", ns);
        if (!_objects.TryGetValue(key, out var namespaceObject) || !Json.IsDeleting(namespaceObject)
            || Json.Finalizers(namespaceObject).Count > 0 || _objects.Keys.Any(k => k.Namespace == ns))
        {
            return null;
        }

        return RemoveLocked(key, namespaceObject.DeepClone().AsObject());
    }

    /// <summary>Stores <paramref name="obj"/> at the next resourceVersion and records the event watchers will see.</summary>
    private JsonObject Commit(ChangeType type, ObjectKey key, JsonObject obj, JsonObject? previous)
    {
        var rv = ++_resourceVersion;
        Json.Meta(obj)["resourceVersion"] = Rv(rv);
        _objects[key] = obj;
        Record(new StoredEvent(rv, type, key, obj.DeepClone().AsObject(), previous?.DeepClone().AsObject()));
        AfterCommit(key, obj, removed: false);
        return obj;
    }

    /// <summary>Removes the object; the DELETED event carries its last state at the deletion's resourceVersion.</summary>
    private JsonObject RemoveLocked(ObjectKey key, JsonObject finalState)
    {
        var previous = _objects[key];
        var rv = ++_resourceVersion;
        Json.Meta(finalState)["resourceVersion"] = Rv(rv);
        _objects.Remove(key);
        Record(new StoredEvent(rv, ChangeType.Deleted, key, finalState.DeepClone().AsObject(), previous.DeepClone().AsObject()));
        AfterCommit(key, finalState, removed: true);
        if (key.Namespace.Length > 0)
        {
            FinalizeNamespaceIfEmptyLocked(key.Namespace);
        }

        return finalState;
    }

    private void AfterCommit(ObjectKey key, JsonObject obj, bool removed)
    {
        if (key.Resource == ApiResource.CustomResourceDefinitions.Identity)
        {
            SyncCustomResourceDefinition(obj, removed);
        }
    }

    private void Record(StoredEvent e)
    {
        _history.Add(e);
        if (_history.Count > MaxHistory)
        {
            var drop = _history.Count - MaxHistory;
            _compactedThrough = _history[drop - 1].Rv;
            _history.RemoveRange(0, drop);
        }

        foreach (var watch in _watches)
        {
            if (watch.Resource == e.Key.Resource)
            {
                watch.Items.Writer.TryWrite(new WatchItem(e));
            }
        }
    }

    private void PrepareCreateForType(ApiResource resource, JsonObject obj)
    {
        if (resource.HasStatusSubresource)
        {
            // With a status subresource, status is not writable through the main resource, not even on create.
            obj.Remove("status");
        }

        if (resource.Group.Length == 0)
        {
            switch (resource.Plural)
            {
                case "namespaces":
                    {
                        // Every namespace carries its own name as a label, so namespace selectors can pick it.
                        var labels = Json.Meta(obj)["labels"] as JsonObject ?? [];
                        labels["kubernetes.io/metadata.name"] = Json.Name(obj);
                        Json.Meta(obj)["labels"] = labels;
                        obj["spec"] = new JsonObject { ["finalizers"] = new JsonArray("kubernetes") };
                    }

                    obj["status"] = new JsonObject { ["phase"] = "Active" };
                    break;
                case "pods":
                    obj["status"] = new JsonObject { ["phase"] = "Pending" };
                    break;
                case "secrets":
                    FoldStringData(obj);
                    obj["type"] ??= "Opaque";
                    break;
            }
        }

        if (resource.Identity == ApiResource.CustomResourceDefinitions.Identity)
        {
            PrepareCustomResourceDefinition(obj);
        }

        DefaultAdmissionPolicy(resource, obj);
    }

    /// <summary>
    /// kube-apiserver's defaults for admissionregistration.k8s.io/v1 policies and bindings, applied on every write:
    /// failurePolicy Fail, and in each match block matchPolicy Equivalent, empty namespace and object selectors, and
    /// scope "*" on resource rules. A client that compares what it wrote with what it reads back must allow for them.
    /// </summary>
    private static void DefaultAdmissionPolicy(ApiResource resource, JsonObject obj)
    {
        var isPolicy = resource.Identity == AdmissionPolicies.Policies;
        if ((!isPolicy && resource.Identity != AdmissionPolicies.Bindings) || obj["spec"] is not JsonObject spec)
        {
            return;
        }

        if (isPolicy)
        {
            spec["failurePolicy"] ??= "Fail";
        }

        if (spec[isPolicy ? "matchConstraints" : "matchResources"] is JsonObject match)
        {
            match["matchPolicy"] ??= "Equivalent";
            match["namespaceSelector"] ??= new JsonObject();
            match["objectSelector"] ??= new JsonObject();
            foreach (var rule in (match["resourceRules"] as JsonArray ?? []).OfType<JsonObject>())
            {
                rule["scope"] ??= "*";
            }
        }
    }

    private static void PrepareUpdateForType(ApiResource resource, JsonObject old, JsonObject next)
    {
        DefaultAdmissionPolicy(resource, next);
        if (resource.Group.Length == 0 && resource.Plural == "secrets")
        {
            FoldStringData(next);
            next["type"] ??= old["type"]?.DeepClone();
        }
    }

    /// <summary>Secret <c>stringData</c> is write-only: the API server folds it into base64 <c>data</c>.</summary>
    private static void FoldStringData(JsonObject secret)
    {
        if (secret["stringData"] is JsonObject stringData)
        {
            var data = secret["data"] as JsonObject ?? [];
            foreach (var (key, value) in stringData)
            {
                data[key] = Convert.ToBase64String(Encoding.UTF8.GetBytes(Json.Str(value) ?? ""));
            }

            secret["data"] = data;
        }

        secret.Remove("stringData");
        if (secret["data"] is JsonObject encoded)
        {
            foreach (var (key, value) in encoded)
            {
                var text = Json.Str(value) ?? "";
                var buffer = new byte[text.Length];
                if (!Convert.TryFromBase64String(text, buffer, out _))
                {
                    throw ApiError.BadRequest($"Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at data[{key}]");
                }
            }
        }
    }

    /// <summary>Whether anything but metadata (and status, when it has its own subresource) changed: what moves generation.</summary>
    private static bool SpecChanged(ApiResource resource, JsonObject old, JsonObject next)
    {
        static JsonObject Strip(JsonObject obj, bool dropStatus)
        {
            var copy = obj.DeepClone().AsObject();
            copy.Remove("metadata");
            copy.Remove("apiVersion");
            copy.Remove("kind");
            if (dropStatus)
            {
                copy.Remove("status");
            }

            return copy;
        }

        return !JsonNode.DeepEquals(Strip(old, resource.HasStatusSubresource), Strip(next, resource.HasStatusSubresource));
    }

    /// <summary>Validating admission, after the object passed validation: the stored ValidatingAdmissionPolicies and their bindings.</summary>
    private void AdmitLocked(ApiResource resource, string operation, string? subResource, JsonObject obj, JsonObject? old)
    {
        var bindings = _objects.Where(p => p.Key.Resource == AdmissionPolicies.Bindings).Select(p => p.Value).ToList();
        if (bindings.Count == 0)
        {
            return;
        }

        AdmissionPolicies.Admit(resource, operation, subResource, obj, old, bindings, (identity, ns, name) =>
            _objects.TryGetValue(new ObjectKey(identity, ns, name), out var found) ? found : null);
    }

    private static void Validate(ApiResource resource, JsonObject obj, JsonObject? old)
    {
        var errors = ObjectValidation.Validate(resource, obj).ToList();
        if (old is not null && resource.Group.Length == 0 && resource.Plural == "configmaps" && old["immutable"] is JsonValue immutable
            && immutable.TryGetValue<bool>(out var isImmutable) && isImmutable)
        {
            foreach (var field in new[] { "data", "binaryData", "immutable" })
            {
                if (!JsonNode.DeepEquals(old[field], obj[field]))
                {
                    errors.Add(FieldError.Forbidden(field, "field is immutable when `immutable` is set"));
                }
            }
        }

        if (errors.Count > 0)
        {
            throw ApiError.Invalid(resource, Json.Name(obj), errors);
        }
    }

    private static void CheckTypeMeta(ApiResource resource, JsonObject body)
    {
        if (Json.Str(body["kind"]) is { Length: > 0 } kind && kind != resource.Kind)
        {
            throw ApiError.BadRequest($"the kind in the body ({kind}) does not match the kind of the URL ({resource.Kind})");
        }

        if (Json.Str(body["apiVersion"]) is { Length: > 0 } apiVersion)
        {
            var group = apiVersion.Contains('/', StringComparison.Ordinal) ? apiVersion[..apiVersion.IndexOf('/', StringComparison.Ordinal)] : "";
            if (group != resource.Group)
            {
                throw ApiError.BadRequest($"the API version in the data ({apiVersion}) does not match the expected API version ({resource.ApiVersion})");
            }
        }
    }

    private static void PlaceInNamespace(ApiResource resource, string? ns, JsonObject metadata)
    {
        if (!resource.Namespaced)
        {
            metadata.Remove("namespace");
            return;
        }

        var bodyNamespace = Json.Str(metadata["namespace"]) ?? "";
        if (bodyNamespace.Length > 0 && bodyNamespace != ns)
        {
            throw ApiError.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
        }

        metadata["namespace"] = ns;
    }

    private void RequireLiveNamespace(ApiResource resource, string ns, string name)
    {
        if (!_objects.TryGetValue(new ObjectKey(ApiResource.Namespaces.Identity, "", ns), out var namespaceObject))
        {
            throw ApiError.NamespaceNotFound(ns);
        }

        if (Json.IsDeleting(namespaceObject))
        {
            var why = $"unable to create new content in namespace {ns} because it is being terminated";
            throw ApiError.Forbidden(resource, name, why, "NamespaceTerminating", "metadata.namespace");
        }
    }

    private static ObjectKey KeyFor(ApiResource resource, string? ns, string name) =>
        new(resource.Identity, resource.Namespaced ? ns ?? "" : "", name);

    /// <summary>The registered resource of a stored object, at its storage (first registered) version.</summary>
    private ApiResource ResourceFor(ObjectKey key) =>
        _resources.Values.First(r => r.Identity == key.Resource);

    /// <summary>A copy for the wire at the version the client asked for, kind and apiVersion first as the real server orders them.</summary>
    private static JsonObject Present(ApiResource resource, JsonObject stored)
    {
        var presented = new JsonObject { ["kind"] = resource.Kind, ["apiVersion"] = resource.ApiVersion };
        foreach (var (name, value) in stored)
        {
            if (name is not ("kind" or "apiVersion"))
            {
                presented[name] = value?.DeepClone();
            }
        }

        return presented;
    }

    private static JsonNode? ParsePatch(string text)
    {
        try
        {
            return JsonNode.Parse(text);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw ApiError.BadRequest($"error decoding patch: {e.Message}");
        }
    }

    private static long ParseResourceVersion(string text) =>
        long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var rv)
            ? rv
            : throw ApiError.BadRequest($"invalid resource version \"{text}\"");

    private static string Rv(long rv) => rv.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string RandomSuffix() =>
        string.Create(5, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = GenerateNameAlphabet[Random.Shared.Next(GenerateNameAlphabet.Length)];
            }
        });
}
