// SPDX-License-Identifier: GPL-3.0-or-later
#include "tools/story_corpus.h"

#include <array>
#include <string_view>

namespace achilles {
namespace {

// splitmix64: a tiny, fully specified generator, so the corpus is identical on every platform.
struct Rng {
    uint64_t s;
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    size_t below(size_t n) { return static_cast<size_t>(next() % n); }
    bool chance(int percent) { return below(100) < static_cast<size_t>(percent); }
    template <class C>
    const auto& pick(const C& c) { return c[below(std::size(c))]; }
};

struct Person {
    std::string name;    // "Lily"
    std::string intro;   // "a little girl named Lily"
    std::string he, him, his;
};

constexpr std::array<std::string_view, 40> kGirlNames = {
    "Lily", "Mia", "Sara", "Anna", "Lucy", "Emma", "Zoe", "Ella", "Rosa", "Nina",
    "Amy", "Kate", "Jenny", "Molly", "Daisy", "Ruby", "Grace", "Hannah", "Julia", "Maya",
    "Sophie", "Chloe", "Lena", "Ivy", "Alice", "Clara", "Eva", "Layla", "Nora", "Olive",
    "Pia", "Rita", "Tina", "Wendy", "Bella", "Fiona", "Greta", "Holly", "Iris", "June"};
constexpr std::array<std::string_view, 40> kBoyNames = {
    "Tom", "Ben", "Max", "Sam", "Leo", "Jack", "Tim", "Finn", "Noah", "Luke",
    "Jake", "Adam", "Oscar", "Hugo", "Theo", "Eli", "Owen", "Ryan", "Dan", "Paul",
    "Kevin", "Mark", "Nick", "Pete", "Joe", "Bob", "Carl", "Dave", "Felix", "Gus",
    "Henry", "Ian", "Jon", "Kai", "Liam", "Milo", "Ned", "Otto", "Ray", "Will"};
constexpr std::array<std::string_view, 20> kAnimals = {
    "cat", "dog", "bunny", "bear", "fox", "duck", "frog", "mouse", "bird", "owl",
    "puppy", "kitten", "turtle", "lamb", "pig", "horse", "squirrel", "deer", "goat", "hen"};
constexpr std::array<std::string_view, 24> kAnimalNames = {
    "Pip", "Bubbles", "Spot", "Fluffy", "Buddy", "Coco", "Sunny", "Whiskers", "Patch", "Pebble",
    "Bingo", "Lulu", "Muffin", "Peanut", "Tiny", "Rusty", "Snowy", "Honey", "Ziggy", "Dot",
    "Button", "Biscuit", "Pepper", "Nutmeg"};
constexpr std::array<std::string_view, 16> kSizes = {
    "little", "small", "kind", "happy", "curious", "brave", "shy", "funny",
    "clever", "gentle", "busy", "cheerful", "young", "friendly", "playful", "quiet"};
struct Place { std::string_view name, at; };
constexpr std::array<Place, 20> kPlaces = {{
    {"park", "in the park"}, {"forest", "in the forest"}, {"garden", "in the garden"},
    {"beach", "at the beach"}, {"farm", "on the farm"}, {"town", "in the town"},
    {"meadow", "in the meadow"}, {"school", "at the school"}, {"lake", "by the lake"},
    {"hill", "on the hill"}, {"village", "in the village"}, {"river", "by the river"},
    {"zoo", "at the zoo"}, {"house", "in a big house"}, {"yard", "in the yard"},
    {"woods", "in the woods"}, {"pond", "by the pond"}, {"field", "in the field"},
    {"street", "on a quiet street"}, {"castle", "in an old castle"}}};
constexpr std::array<std::string_view, 30> kObjects = {
    "ball", "kite", "hat", "toy car", "doll", "book", "box", "cup", "shoe", "teddy bear",
    "balloon", "scarf", "train", "stone", "boat", "wagon", "drum", "flower",
    "cookie", "apple", "crayon", "bike", "sock", "key", "bell", "spoon", "blanket", "robot",
    "star", "picture"};
constexpr std::array<std::string_view, 16> kColors = {
    "red", "blue", "green", "yellow", "pink", "purple", "orange", "white",
    "brown", "black", "gold", "silver", "bright", "shiny", "soft", "big"};
constexpr std::array<std::string_view, 12> kWeather = {
    "The sun was shining.", "It was a sunny day.", "It was a warm and bright morning.",
    "The sky was blue and the wind was soft.", "It was a cold winter day.", "It was raining a little.",
    "The birds were singing.", "It was a quiet afternoon.", "The leaves were falling from the trees.",
    "Snow covered the ground.", "It was a windy day.", "The flowers were blooming."};
constexpr std::array<std::string_view, 14> kLikes = {
    "play outside", "run and jump", "draw pictures", "sing songs", "read books", "help people",
    "look at the stars", "build things", "dance", "play with friends", "explore", "climb trees",
    "swim", "eat sweet fruit"};
constexpr std::array<std::string_view, 10> kFeelHappy = {
    "happy", "very happy", "glad", "proud", "excited", "so happy", "thankful", "joyful", "calm", "warm inside"};
constexpr std::array<std::string_view, 10> kFeelSad = {
    "sad", "very sad", "worried", "upset", "scared", "lonely", "angry", "confused", "tired", "a little scared"};
constexpr std::array<std::string_view, 10> kMorals = {
    "sharing makes everyone happy", "it is good to help your friends", "being kind is important",
    "you should never give up", "it is okay to ask for help", "friends make everything better",
    "being brave is not the same as not being scared", "listening to others is wise",
    "saying sorry can fix a lot", "patience is a good thing"};
constexpr std::array<std::string_view, 10> kEndings = {
    "They played together until the sun went down.", "From that day on, they were best friends.",
    "They all went home and had a warm dinner.", "And they lived happily ever after.",
    "That night, they slept with big smiles on their faces.", "It was the best day ever.",
    "They laughed and hugged each other.", "Everyone clapped and cheered.",
    "They promised to come back the next day.", "And the sun set slowly over the hills."};
constexpr std::array<std::string_view, 12> kFoods = {
    "cake", "soup", "cookies", "bread", "pie", "pancakes", "a sandwich", "muffins",
    "rice", "jam", "apples", "a big pizza"};

std::string cap(std::string s) {
    if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
    return s;
}
std::string article(std::string_view noun) {
    if (noun.empty()) return "a";
    char c = noun[0];
    return (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u') ? "an" : "a";
}
std::string with_article(std::string_view noun) { return article(noun) + " " + std::string(noun); }

Person make_person(Rng& r, const std::string& avoid) {
    Person p;
    for (int tries = 0; tries < 8; ++tries) {
        int kind = static_cast<int>(r.below(10));
        std::string adj(r.pick(kSizes));
        if (kind < 4) {
            p.name = std::string(r.pick(kGirlNames));
            p.intro = with_article(adj) + " girl named " + p.name;
            p.he = "she"; p.him = "her"; p.his = "her";
        } else if (kind < 8) {
            p.name = std::string(r.pick(kBoyNames));
            p.intro = with_article(adj) + " boy named " + p.name;
            p.he = "he"; p.him = "him"; p.his = "his";
        } else {
            p.name = std::string(r.pick(kAnimalNames));
            std::string animal(r.pick(kAnimals));
            p.intro = with_article(adj) + " " + animal + " named " + p.name;
            if (r.chance(50)) { p.he = "she"; p.him = "her"; p.his = "her"; }
            else { p.he = "he"; p.him = "him"; p.his = "his"; }
        }
        if (p.name != avoid) break;
    }
    return p;
}

struct Story {
    Rng& r;
    std::string out;
    void add(std::string_view s) {
        if (!out.empty()) out += ' ';
        out += s;
    }
};

}  // namespace

std::string generate_story(uint64_t seed, uint64_t index) {
    Rng r{seed * 0x2545F4914F6CDD1Dull ^ (index + 1) * 0x9E3779B97F4A7C15ull};
    r.next();
    Story st{r, {}};
    Person a = make_person(r, "");
    Person b = make_person(r, a.name);
    const Place& place = r.pick(kPlaces);
    std::string obj(r.pick(kObjects));
    std::string color(r.pick(kColors));
    std::string like(r.pick(kLikes));

    // Opening.
    const int opening_kind = static_cast<int>(r.below(4));
    switch (opening_kind) {
        case 0: st.add("Once upon a time, there was " + a.intro + "."); break;
        case 1: st.add("Once upon a time, " + a.intro + " lived " + std::string(place.at) + "."); break;
        case 2: st.add("One day, " + a.intro + " went to the " + std::string(place.name) + "."); break;
        default: st.add("There once was " + a.intro + " who loved to " + like + "."); break;
    }
    if (opening_kind != 3 && r.chance(60)) st.add(cap(a.he) + " loved to " + like + ".");
    if (r.chance(50)) st.add(std::string(r.pick(kWeather)));
    if (r.chance(70)) {
        switch (r.below(3)) {
            case 0: st.add(cap(a.he) + " had a friend named " + b.name + "."); break;
            case 1: st.add(std::string(opening_kind == 2 ? "There, " : "One day, ") + a.name + " met " + b.intro + " " + std::string(place.at) + "."); break;
            default: st.add(a.name + " and " + b.name + " were good friends."); break;
        }
    } else {
        st.add(std::string(opening_kind == 2 ? "There, " : "One day, ") + a.name + " saw " + b.intro + ".");
    }

    // The problem, one of several arcs.
    int arc = static_cast<int>(r.below(7));
    std::string happy(r.pick(kFeelHappy)), sad(r.pick(kFeelSad));
    switch (arc) {
        case 0: {  // lost object
            st.add(a.name + " had " + with_article(color) + " " + obj + ". " + cap(a.he) + " loved " + std::string(r.chance(50) ? "it very much." : "to play with it."));
            st.add("But one day, the " + obj + " was gone! " + a.name + " looked everywhere, but " + a.he + " could not find it.");
            st.add(cap(a.he) + " felt " + sad + ".");
            st.add("\"Can you help me find my " + obj + "?\" " + a.name + " asked " + b.name + ".");
            st.add("\"Yes, I will help you,\" said " + b.name + ".");
            st.add("They looked under the bed, behind the tree and " + std::string(place.at) + ".");
            st.add("At last, " + b.name + " found the " + obj + " " + std::string(r.pick(std::array<std::string_view, 5>{"under a big leaf.", "in a small hole.", "behind a rock.", "next to the door.", "in the tall grass."})));
            st.add(a.name + " was " + happy + ". \"Thank you, " + b.name + "!\" " + a.he + " said.");
            break;
        }
        case 1: {  // sharing
            st.add(a.name + " had " + with_article(obj) + ". " + b.name + " wanted to play with it too.");
            st.add("\"Can I play with your " + obj + "?\" asked " + b.name + ".");
            st.add("At first, " + a.name + " said, \"No, it is mine!\" " + b.name + " felt " + sad + ".");
            st.add("Then " + a.name + " saw that " + b.name + " was " + sad + ". " + cap(a.he) + " thought about it.");
            st.add("\"I am sorry,\" said " + a.name + ". \"We can play with it together.\"");
            st.add("They took turns with the " + obj + ", and they both felt " + happy + ".");
            break;
        }
        case 2: {  // fear
            std::string fear(r.pick(std::array<std::string_view, 6>{"the dark", "the big storm", "the loud thunder", "the deep water", "the tall slide", "the big dog"}));
            st.add("But " + a.name + " was afraid of " + fear + ".");
            st.add("\"I do not want to go,\" " + a.name + " said. \"I am " + sad + ".\"");
            st.add(b.name + " held " + a.his + " hand. \"Do not be afraid. I am here with you,\" said " + b.name + ".");
            st.add(a.name + " took a deep breath and " + std::string(r.pick(std::array<std::string_view, 4>{"tried again.", "stepped forward.", "opened the door.", "looked up."})));
            st.add("It was not so bad after all! " + a.name + " felt " + happy + ".");
            break;
        }
        case 3: {  // helping an animal
            std::string animal(r.pick(kAnimals));
            st.add(std::string("Near the ") + std::string(place.name) + ", they found " + with_article(animal) + " that was stuck in " + std::string(r.pick(std::array<std::string_view, 5>{"a tree.", "a bush.", "the mud.", "a net.", "a hole."})));
            st.add("The " + animal + " was " + sad + ". \"We have to help it,\" said " + a.name + ".");
            st.add(a.name + " and " + b.name + " worked together. They pulled and pulled.");
            st.add("Finally, the " + animal + " was free! It jumped around and " + std::string(r.pick(std::array<std::string_view, 4>{"said thank you.", "licked their hands.", "ran in circles.", "made a happy sound."})));
            st.add(a.name + " and " + b.name + " felt " + happy + ".");
            break;
        }
        case 4: {  // building
            std::string thing(r.pick(std::array<std::string_view, 6>{"a sand castle", "a tower of blocks", "a little house", "a snowman", "a boat", "a fort"}));
            st.add(a.name + " wanted to build " + thing + ". " + cap(a.he) + " worked very hard.");
            st.add("But then " + std::string(r.pick(std::array<std::string_view, 4>{"a big wave came", "the wind blew", "a dog ran by", "it fell down"})) + ", and it broke.");
            st.add(a.name + " felt " + sad + ". \"Now I have to start again,\" " + a.he + " said.");
            st.add(b.name + " came to help. \"Let us build it together,\" " + b.name + " said.");
            st.add("Together, they made " + thing + " that was even bigger and better than before.");
            st.add(a.name + " was " + happy + ".");
            break;
        }
        case 5: {  // cooking / food
            std::string food(r.pick(kFoods));
            st.add(a.name + " and " + b.name + " wanted to make " + food + " for " + std::string(r.pick(std::array<std::string_view, 5>{"mom", "dad", "grandma", "their teacher", "a friend"})) + ".");
            st.add("They got a bowl and a big spoon. They mixed and mixed.");
            st.add("Oh no! " + std::string(r.pick(std::array<std::string_view, 4>{"The flour went everywhere.", "They dropped the bowl.", "It was too hot.", "They forgot the sugar."})));
            st.add("\"What do we do now?\" asked " + b.name + ". \"We try again,\" said " + a.name + ".");
            st.add("This time, it was " + std::string(r.pick(std::array<std::string_view, 4>{"yummy.", "perfect.", "very good.", "the best ever."})));
            st.add("Everyone was " + happy + ".");
            break;
        }
        default: {  // a trip / adventure
            std::string dest(r.pick(kPlaces).name);
            st.add(a.name + " wanted to go to the " + dest + ". \"Will you come with me?\" " + a.he + " asked " + b.name + ".");
            st.add("\"Yes!\" said " + b.name + ". So they walked and walked.");
            st.add("On the way, they saw " + with_article(color) + " " + std::string(r.pick(kObjects)) + " and " + with_article(r.pick(kAnimals)) + ".");
            st.add("When they got to the " + dest + ", they " + std::string(r.pick(std::array<std::string_view, 5>{"played games", "had a picnic", "sang songs", "looked at the water", "ran around"})) + ".");
            st.add(a.name + " felt " + happy + ".");
            break;
        }
    }
    // Ending and an occasional moral.
    st.add(std::string(r.pick(kEndings)));
    if (r.chance(40)) st.add(a.name + " learned that " + std::string(r.pick(kMorals)) + ".");
    return st.out;
}

std::vector<std::string> generate_stories(uint64_t seed, size_t target_bytes) {
    std::vector<std::string> out;
    size_t total = 0;
    for (uint64_t i = 0; total < target_bytes; ++i) {
        out.push_back(generate_story(seed, i));
        total += out.back().size() + 1;
    }
    return out;
}

std::string join_stories(const std::vector<std::string>& stories) {
    std::string s;
    size_t n = 0;
    for (const auto& x : stories) n += x.size() + 1;
    s.reserve(n);
    for (const auto& x : stories) {
        s += x;
        s += '\n';
    }
    return s;
}

}  // namespace achilles
