using System.Globalization;
using System.Text.Json.Nodes;

namespace Tollgate.TestSupport.FakeKubernetes;

/// <summary>
/// A refused request, carried to the response as the <c>v1.Status</c> the real API server writes: the same code, reason,
/// message wording and details, because clients branch on all of them (410 to re-list, 409 to re-read, causes for 422).
/// </summary>
internal sealed class ApiError : Exception
{
    public ApiError(int code, string reason, string message, JsonObject? details = null)
        : base(message)
    {
        Code = code;
        Reason = reason;
        Details = details;
    }

    public int Code { get; }

    public string Reason { get; }

    public JsonObject? Details { get; }

    public JsonObject ToStatus() => Status.Failure(Code, Reason, Message, Details?.DeepClone().AsObject());

    public static ApiError PathNotFound() =>
        new(404, "NotFound", "the server could not find the requested resource", new JsonObject());

    public static ApiError NotFound(ApiResource resource, string name) =>
        new(404, "NotFound", $"{resource.QualifiedName} \"{name}\" not found", ResourceDetails(resource, name));

    public static ApiError NamespaceNotFound(string name) => NotFound(ApiResource.Namespaces, name);

    public static ApiError AlreadyExists(ApiResource resource, string name) =>
        new(409, "AlreadyExists", $"{resource.QualifiedName} \"{name}\" already exists", ResourceDetails(resource, name));

    public static ApiError Conflict(ApiResource resource, string name, string why) =>
        new(409, "Conflict", $"Operation cannot be fulfilled on {resource.QualifiedName} \"{name}\": {why}", ResourceDetails(resource, name));

    public static ApiError StaleResourceVersion(ApiResource resource, string name) =>
        Conflict(resource, name, "the object has been modified; please apply your changes to the latest version and try again");

    public static ApiError Invalid(ApiResource resource, string name, IReadOnlyList<FieldError> errors)
    {
        var details = new JsonObject { ["name"] = name };
        if (resource.Group.Length > 0)
        {
            details["group"] = resource.Group;
        }

        details["kind"] = resource.Kind;
        details["causes"] = new JsonArray(errors.Select(e => (JsonNode)new JsonObject
        {
            ["reason"] = e.Type,
            ["message"] = e.Body,
            ["field"] = e.Field,
        }).ToArray());
        var all = errors.Count == 1 ? errors[0].ToString() : "[" + string.Join(", ", errors) + "]";
        return new ApiError(422, "Invalid", $"{resource.QualifiedKind} \"{name}\" is invalid: {all}", details);
    }

    public static ApiError BadRequest(string message) => new(400, "BadRequest", message);

    /// <summary>A JSON patch that parses but cannot be applied (a failed test, a missing path), as apimachinery words it.</summary>
    public static ApiError InvalidPatch(string patch, string why) =>
        new(422, "Invalid", $"\"\" is invalid: patch: Invalid value: \"{patch}\": {why}",
            new JsonObject
            {
                ["causes"] = new JsonArray(new JsonObject
                {
                    ["reason"] = "FieldValueInvalid",
                    ["message"] = $"Invalid value: \"{patch}\": {why}",
                    ["field"] = "patch",
                }),
            });

    public static ApiError Expired(string message) => new(410, "Expired", message);

    public static ApiError TooOldResourceVersion(long requested, long oldestAvailable) =>
        Expired(string.Create(CultureInfo.InvariantCulture, $"too old resource version: {requested} ({oldestAvailable})"));

    public static ApiError TooLargeResourceVersion(long requested, long current) =>
        new(504, "Timeout", string.Create(CultureInfo.InvariantCulture, $"Timeout: Too large resource version: {requested}, current: {current}"),
            new JsonObject { ["retryAfterSeconds"] = 1 });

    public static ApiError Forbidden(ApiResource resource, string name, string why, string? causeReason = null, string? causeField = null)
    {
        var details = ResourceDetails(resource, name);
        if (causeReason is not null)
        {
            details["causes"] = new JsonArray(new JsonObject { ["reason"] = causeReason, ["message"] = why, ["field"] = causeField });
        }

        return new ApiError(403, "Forbidden", $"{resource.QualifiedName} \"{name}\" is forbidden: {why}", details);
    }

    public static ApiError MethodNotAllowed(ApiResource resource, string action) =>
        new(405, "MethodNotAllowed", $"{action} is not supported on resources of kind \"{resource.QualifiedName}\"", ResourceDetails(resource, null));

    public static ApiError UnsupportedMediaType(string contentType, IEnumerable<string> accepted) =>
        new(415, "UnsupportedMediaType",
            $"the body of the request was in an unknown format ({contentType}) - accepted media types include: {string.Join(", ", accepted)}");

    private static JsonObject ResourceDetails(ApiResource resource, string? name)
    {
        var details = new JsonObject();
        if (!string.IsNullOrEmpty(name))
        {
            details["name"] = name;
        }

        if (resource.Group.Length > 0)
        {
            details["group"] = resource.Group;
        }

        details["kind"] = resource.Plural;
        return details;
    }
}

/// <summary>One field's fault in a 422 Invalid, worded as apimachinery's field.Error prints.</summary>
/// <param name="Type">The cause reason: FieldValueInvalid, FieldValueRequired, FieldValueForbidden, FieldValueTooLong, FieldValueNotSupported.</param>
internal sealed record FieldError(string Field, string Type, string Detail, string? Value = null)
{
    public static FieldError InvalidValue(string field, string value, string detail) => new(field, "FieldValueInvalid", detail, value);

    public static FieldError Required(string field, string detail) => new(field, "FieldValueRequired", detail);

    public static FieldError Forbidden(string field, string detail) => new(field, "FieldValueForbidden", detail);

    public static FieldError TooLong(string field, string detail) => new(field, "FieldValueTooLong", detail);

    /// <summary>The message without the field path, as a Status cause carries it.</summary>
    public string Body => Type switch
    {
        "FieldValueInvalid" => $"Invalid value: \"{Value}\": {Detail}",
        "FieldValueRequired" => Detail.Length == 0 ? "Required value" : $"Required value: {Detail}",
        "FieldValueForbidden" => $"Forbidden: {Detail}",
        "FieldValueTooLong" => $"Too long: {Detail}",
        _ => Detail,
    };

    public override string ToString() => $"{Field}: {Body}";
}

/// <summary>Builds <c>v1.Status</c> objects.</summary>
internal static class Status
{
    public static JsonObject Failure(int code, string reason, string message, JsonObject? details)
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
        };
        if (details is not null)
        {
            status["details"] = details;
        }

        status["code"] = code;
        return status;
    }

    /// <summary>What a delete that removed the object at once answers for types whose registry does not return the object.</summary>
    public static JsonObject Success(ApiResource resource, string name, string? uid)
    {
        var details = new JsonObject { ["name"] = name };
        if (resource.Group.Length > 0)
        {
            details["group"] = resource.Group;
        }

        details["kind"] = resource.Plural;
        if (uid is not null)
        {
            details["uid"] = uid;
        }

        return new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Success",
            ["details"] = details,
        };
    }
}
