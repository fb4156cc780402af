// Types for NamespaceGraphTests: Alpha reaches Beta only inside a method body and Beta reaches Alpha through a field,
// so only a reader that sees method bodies finds the cycle. Gamma uses Alpha and nothing uses Gamma.
namespace Tollgate.Core.Tests.Architecture.Fixture.Alpha
{
    public sealed class Message
    {
        public static int CountOnce() => new Beta.Counter().Increment();
    }
}

namespace Tollgate.Core.Tests.Architecture.Fixture.Beta
{
    public sealed class Counter
    {
        private int _count;

        public Alpha.Message? Last { get; set; }

        public int Increment() => ++_count;
    }
}

namespace Tollgate.Core.Tests.Architecture.Fixture.Gamma
{
    public static class Reader
    {
        public static int Read(List<Alpha.Message> messages) => messages.Count;
    }
}
