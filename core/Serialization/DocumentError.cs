using System.Text;

namespace Tollgate.Core.Serialization;

/// <summary>One problem in a configuration file, named precisely enough to fix without guessing.</summary>
/// <param name="File">The file, as the user gave it.</param>
/// <param name="Document">1-based index of the YAML document, when the file has documents.</param>
/// <param name="Resource">The object the document describes, e.g. <c>AiBudget "team-daily"</c>, when known.</param>
/// <param name="Field">The field path, e.g. <c>spec.limit.period</c>, when the problem is one field.</param>
/// <param name="Line">1-based line in the file, when known.</param>
/// <param name="Message">What is wrong and what is expected.</param>
public sealed record DocumentError(string File, int? Document, string? Resource, string? Field, int? Line, string Message)
{
    public override string ToString()
    {
        var text = new StringBuilder(File);
        if (Document is { } document)
        {
            text.Append(": document ").Append(document);
            if (Resource is not null)
            {
                text.Append(" (").Append(Resource).Append(')');
            }
        }

        if (Field is not null)
        {
            text.Append(": ").Append(Field);
        }

        text.Append(": ").Append(Message);
        if (Line is { } line)
        {
            text.Append(" (line ").Append(line).Append(')');
        }

        return text.ToString();
    }
}
