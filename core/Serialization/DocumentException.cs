namespace Tollgate.Core.Serialization;

/// <summary>A configuration file was rejected; <see cref="Errors"/> lists every problem found.</summary>
public sealed class DocumentException : Exception
{
    public DocumentException(IReadOnlyList<DocumentError> errors)
        : base(errors.Count == 1 ? errors[0].ToString() : $"{errors[0]} (and {errors.Count - 1} more)")
    {
        Errors = errors;
    }

    public DocumentException(DocumentError error)
        : this([error])
    {
    }

    public IReadOnlyList<DocumentError> Errors { get; }
}
