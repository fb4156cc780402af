using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Core.Tagging;

namespace Tollgate.Core.Matching;

/// <summary>A compiled <see cref="RequestMatch"/>: every given condition must hold; an empty match selects everything.</summary>
public sealed class RequestMatcher
{
    private readonly string[] _namespaces;
    private readonly LabelSelector? _namespaceSelector;
    private readonly (string Key, string Pattern)[] _subjects;
    private readonly string[] _models;
    private readonly (string Key, string Pattern)[] _metadata;

    public RequestMatcher(RequestMatch match)
    {
        _namespaces = [.. match.Namespaces ?? []];
        _namespaceSelector = match.NamespaceSelector;
        _subjects = [.. (match.Subjects ?? []).Select(ParseSubject)];
        _models = [.. match.Models ?? []];
        _metadata = [.. match.Metadata.Select(pair => (pair.Key, pair.Value))];
    }

    /// <summary>Subject shortcuts and the metadata key each one reads.</summary>
    public static IReadOnlyDictionary<string, string> SubjectKinds { get; } = new Dictionary<string, string>
    {
        [TagKeys.Team] = TagKeys.Team,
        [TagKeys.User] = TagKeys.User,
        [TagKeys.Repo] = TagKeys.Repo,
        [TagKeys.Pipeline] = TagKeys.Pipeline,
    };

    public bool Matches(RequestContext request)
    {
        if (_namespaces.Length > 0 && Array.IndexOf(_namespaces, request.Namespace) < 0)
        {
            return false;
        }

        if (_namespaceSelector is not null && !LabelSelectorMatcher.Matches(_namespaceSelector, request.NamespaceLabels))
        {
            return false;
        }

        if (_subjects.Length > 0 && !AnySubject(request))
        {
            return false;
        }

        if (_models.Length > 0 && !AnyModel(request.Model))
        {
            return false;
        }

        foreach (var (key, pattern) in _metadata)
        {
            if (!request.Metadata.TryGetValue(key, out var value) || !Glob.IsMatch(pattern, value))
            {
                return false;
            }
        }

        return true;
    }

    private bool AnySubject(RequestContext request)
    {
        foreach (var (key, pattern) in _subjects)
        {
            if (request.Metadata.TryGetValue(key, out var value) && Glob.IsMatch(pattern, value))
            {
                return true;
            }
        }

        return false;
    }

    private bool AnyModel(string model)
    {
        foreach (var pattern in _models)
        {
            if (Glob.IsMatch(pattern, model))
            {
                return true;
            }
        }

        return false;
    }

    private static (string Key, string Pattern) ParseSubject(string subject)
    {
        var colon = subject.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? (string.Empty, subject) : (SubjectKinds.GetValueOrDefault(subject[..colon], subject[..colon]), subject[(colon + 1)..]);
    }
}
